if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local seq = tonumber(ARGV[2])
if seq <= tonumber(redis.call('HGET', KEYS[1], 'snapseq') or '0') then return 0 end
redis.call('HSET', KEYS[1], 'snapseq', ARGV[2], 'snap', ARGV[3])
local keep = seq - tonumber(ARGV[4])
if keep > 1 then redis.call('XTRIM', KEYS[2], 'MINID', tostring(keep)) end
return 1
