-- budget-charge: counts one AI request of a user in the current window, unless a budget is spent.
-- KEYS[1]  the user's window: a hash with fields `requests` and `tokens`
-- ARGV[1]  requests allowed per window
-- ARGV[2]  output tokens allowed per window
-- ARGV[3]  end of the window, ms since epoch (the hash expires with its window)
-- Returns {1, ''} when charged, {0, 'requests' | 'tokens'} when that budget is spent.
local requests = tonumber(redis.call('HGET', KEYS[1], 'requests') or '0')
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
if requests >= tonumber(ARGV[1]) then return {0, 'requests'} end
if tokens >= tonumber(ARGV[2]) then return {0, 'tokens'} end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, ''}
