-- Queues a job behind the conversation's earlier ones. Only the head of a conversation's list is in the
-- stream, so workers never see two jobs of one conversation at once and answers keep their order.
-- Idempotent by job id: a job whose id was submitted before (its marker lives `marker ttl` ms) is not
-- queued again, also when a client library resends the command after a lost reply.
-- KEYS: stream, unfinished count, the conversation's job list, the conversation's reservations, the job's marker
-- ARGV: job (JSON), exclusive (1|0: the submit uses an exclusive reservation, which it gives back), marker ttl ms
-- Returns 1 (queued) or 0 (submitted before).
if ARGV[2] == '1' and tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then redis.call('DECR', KEYS[4]) end
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('INCR', KEYS[2])
if redis.call('LLEN', KEYS[3]) == 1 then redis.call('XADD', KEYS[1], '*', 'job', ARGV[1]) end
return 1
