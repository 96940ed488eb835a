-- presence-leave: removes a connection of a user from a conversation's presence.
-- KEYS[1]  the conversation's presence hash: field "<userId>|<connectionId>" = expiry (ms since epoch)
-- ARGV[1]  userId
-- ARGV[2]  connectionId
-- ARGV[3]  now, ms since epoch
-- Returns 1 when the entry existed and no other live connection of the user remains (the user left), else 0.
local prefix = ARGV[1] .. '|'
if redis.call('HDEL', KEYS[1], prefix .. ARGV[2]) == 0 then return 0 end
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if string.sub(entries[i], 1, #prefix) == prefix and tonumber(entries[i + 1]) > tonumber(ARGV[3]) then return 0 end
end
return 1
