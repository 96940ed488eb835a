-- publish-event: adds a committed event to its conversation's hot log and publishes it, atomically.
-- KEYS[1]  the hot log: a sorted set, score = seq, member = the event as JSON
-- KEYS[2]  the conversation's (sharded) pub/sub channel; same hash tag as KEYS[1]
-- ARGV[1]  seq
-- ARGV[2]  the event as JSON
-- ARGV[3]  events kept (the highest seqs)
-- ARGV[4]  time to live of the hot log, in milliseconds
-- ARGV[5]  the message to publish
-- Returns 1 when the event was added, 0 when that seq was already there (a repeated publish).
-- A sorted set accepts an event that arrives after a later seq: publishers race, PostgreSQL is the sequencer.
local added = 0
if redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  added = 1
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SPUBLISH', KEYS[2], ARGV[5])
return added
