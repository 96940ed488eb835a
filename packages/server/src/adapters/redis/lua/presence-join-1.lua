-- presence-join: records a connection of a user in a conversation, dropping expired entries on the way.
-- KEYS[1]  the conversation's presence hash: field "<userId>|<connectionId>" = expiry (ms since epoch)
-- ARGV[1]  userId
-- ARGV[2]  connectionId
-- ARGV[3]  now, ms since epoch
-- ARGV[4]  time to live of an entry, ms (heartbeats refresh it; a dead node's entries expire)
-- Returns 1 when no other live connection of the user is there (the user joined), else 0.
local prefix = ARGV[1] .. '|'
local others = 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) <= tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], entries[i])
  elseif string.sub(entries[i], 1, #prefix) == prefix and entries[i] ~= prefix .. ARGV[2] then
    others = others + 1
  end
end
redis.call('HSET', KEYS[1], prefix .. ARGV[2], tonumber(ARGV[3]) + tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if others == 0 then return 1 end
return 0
