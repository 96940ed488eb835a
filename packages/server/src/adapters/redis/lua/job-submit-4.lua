-- Queues a job behind the conversation's earlier ones. Only the head of a conversation's list is in the
-- stream, so workers never see two jobs of one conversation at once and answers keep their order.
-- Safe to repeat (a client library may resend it after a lost reply): a job already queued is not added again.
-- KEYS: stream, unfinished count, the conversation's job list, the conversation's reservations
-- ARGV: job (JSON), exclusive (1|0)
if redis.call('LPOS', KEYS[3], ARGV[1]) then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('INCR', KEYS[2])
if redis.call('LLEN', KEYS[3]) == 1 then redis.call('XADD', KEYS[1], '*', 'job', ARGV[1]) end
if ARGV[2] == '1' and tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then redis.call('DECR', KEYS[4]) end
return 1
