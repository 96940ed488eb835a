-- Removes a stopping worker from the consumer group, but only if it holds no delivery: deleting a consumer
-- deletes its pending entries, and a job whose delivery is gone would never be reclaimed.
-- KEYS: stream
-- ARGV: group, consumer
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if type(pending) ~= 'table' or pending.err or #pending > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
