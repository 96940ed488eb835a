-- Marks a delivered job as running on a worker, within the tenant's cap.
-- KEYS: running set, the tenant's running set, the conversation's job list
-- ARGV: job id, now ms, lease expiry ms, tenant cap, job (JSON)
-- Returns 1 (run it), 0 (the tenant is at its cap) or -1 (stale: the job no longer heads its conversation).
if redis.call('LINDEX', KEYS[3], 0) ~= ARGV[5] then return -1 end
-- Entries of workers that stopped refreshing them (dead) no longer count.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
