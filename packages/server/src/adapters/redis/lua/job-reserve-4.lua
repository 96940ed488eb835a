-- Takes a place in the AI job queue before the message that causes the job is committed.
-- KEYS: unfinished count, running set, the conversation's job list, the conversation's reservations
-- ARGV: max waiting, exclusive (1|0), places reserved on the calling node, reservation ttl ms
-- Returns 'ok', 'busy' (the queue is full) or 'conflict' (exclusive, and the conversation has a job admitted and unfinished).
if ARGV[2] == '1' then
  if redis.call('LLEN', KEYS[3]) > 0 or tonumber(redis.call('GET', KEYS[4]) or '0') > 0 then return 'conflict' end
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local waiting = tonumber(redis.call('GET', KEYS[1]) or '0') - redis.call('ZCOUNT', KEYS[2], now, '+inf')
if waiting + tonumber(ARGV[3]) >= tonumber(ARGV[1]) then return 'busy' end
if ARGV[2] == '1' then
  redis.call('INCR', KEYS[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[4])
end
return 'ok'
