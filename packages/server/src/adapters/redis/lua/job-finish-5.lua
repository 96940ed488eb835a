-- Ends a job: acknowledges its delivery, frees its place, and puts the conversation's next job in the stream.
-- Safe to repeat: only the job heading its conversation's list is taken off it.
-- KEYS: stream, unfinished count, the conversation's job list, running set, the tenant's running set
-- ARGV: entry id, group, job (JSON), job id
-- The group may be gone (Redis lost it): the conversation must move on all the same.
redis.pcall('XACK', KEYS[1], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[4])
redis.call('ZREM', KEYS[5], ARGV[4])
if redis.call('LINDEX', KEYS[3], 0) ~= ARGV[3] then return 0 end
redis.call('LPOP', KEYS[3])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
local following = redis.call('LINDEX', KEYS[3], 0)
if following then redis.call('XADD', KEYS[1], '*', 'job', following) end
return 1
