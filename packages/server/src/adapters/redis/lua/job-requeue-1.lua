-- Puts a delivered job back at the end of the stream (its tenant is at its cap): acknowledged and added again.
-- Safe to repeat: a delivery already acknowledged is not added a second time.
-- KEYS: stream
-- ARGV: entry id, group, job (JSON)
local acked = redis.pcall('XACK', KEYS[1], ARGV[2], ARGV[1])
if type(acked) ~= 'number' or acked == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
return 1
