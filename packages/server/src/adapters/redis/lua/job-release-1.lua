-- Gives back an exclusive reservation (its message was not committed).
-- KEYS: the conversation's reservations
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
