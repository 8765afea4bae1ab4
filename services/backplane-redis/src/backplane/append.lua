local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if seq == 1 then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
  redis.call('DEL', KEYS[2])
end
local record = redis.call('HGET', KEYS[1], 'epoch') .. '\n' .. seq .. '\n' .. ARGV[1] .. '\n' .. ARGV[3]
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'e', record)
redis.call(ARGV[5], KEYS[3], record)
return seq
