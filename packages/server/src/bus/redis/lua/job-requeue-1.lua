-- Puts a delivered job back at the end of the stream (its tenant is at its cap): acknowledged and added again.
-- KEYS: stream
-- ARGV: entry id, group, job (JSON)
redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
return 1
