-- presence-refresh: extends a live connection's entry (a heartbeat); does nothing for one that left.
-- KEYS[1]  the conversation's presence hash: field "<userId>|<connectionId>" = expiry (ms since epoch)
-- ARGV[1]  userId
-- ARGV[2]  connectionId
-- ARGV[3]  now, ms since epoch
-- ARGV[4]  time to live of an entry, ms
-- Returns 1 when refreshed, 0 when there was no entry.
local field = ARGV[1] .. '|' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 0 then return 0 end
redis.call('HSET', KEYS[1], field, tonumber(ARGV[3]) + tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
