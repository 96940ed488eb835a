-- budget-refund: gives back one request of a user's window (a message charged but not committed).
-- KEYS[1]  the user's window: a hash with fields `requests` and `tokens`
-- Returns 1 when refunded, 0 when the window is gone or holds no request (nothing is created).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'requests') or '0') <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'requests', -1)
return 1
