-- Marks a delivered job as running on a worker, within the tenant's cap. Leases are timed by Redis's
-- clock, so nodes with skewed clocks agree on which have expired.
-- KEYS: running set, the tenant's running set, the conversation's job list
-- ARGV: job id, visibility ms, tenant cap, job (JSON), reclaimed (1|0)
-- Returns 1 (run it), 0 (the tenant is at its cap), -1 (stale: the job no longer heads its conversation)
-- or -2 (a second delivery of a job that runs elsewhere under a live lease).
if redis.call('LINDEX', KEYS[3], 0) ~= ARGV[4] then return -1 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- Entries of workers that stopped renewing them (dead) no longer count.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local leased = redis.call('ZSCORE', KEYS[1], ARGV[1])
if leased and ARGV[5] ~= '1' then return -2 end
if not leased and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
return 1
