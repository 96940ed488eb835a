-- Keeps a running job's delivery from being reclaimed, if this consumer still holds it.
-- KEYS: stream, running set, the tenant's running set
-- ARGV: group, consumer, entry id, job id, lease expiry ms
-- Returns 1, or 0 when another worker has taken the job over (or it is gone).
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
return 1
