-- Jobs admitted and not finished, and jobs running under a live lease, by Redis's clock.
-- KEYS: unfinished count, running set
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return { tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('ZCOUNT', KEYS[2], now, '+inf') }
