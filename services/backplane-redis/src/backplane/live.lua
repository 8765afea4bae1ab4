local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since = redis.call('GET', KEYS[2])
local age = -1
if since then age = now - tonumber(since) end
return {age, redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')}
