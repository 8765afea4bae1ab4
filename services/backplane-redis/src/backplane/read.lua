local meta = redis.call('HMGET', KEYS[1], 'epoch', 'snapseq', 'snap')
local snapseq = meta[2] or '0'
local records = redis.call('XRANGE', KEYS[2], tostring(tonumber(snapseq) + 1), '+')
return {meta[1] or '', snapseq, meta[3] or '', records}
