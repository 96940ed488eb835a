-- Renews a running job's lease and keeps its delivery from being reclaimed.
-- KEYS: stream, running set, the tenant's running set, the conversation's job list
-- ARGV: group, consumer, entry id, job id, visibility ms, job (JSON)
-- Returns 1, or 0 when the job was taken over: another consumer holds its delivery, or another job heads
-- the conversation. A delivery that Redis lost (the stream or group is gone) is not a takeover: the job
-- runs on, and finishing it moves the conversation on.
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if type(pending) ~= 'table' or pending.err then pending = {} end
if #pending > 0 and pending[1][2] ~= ARGV[2] then return 0 end
local head = redis.call('LINDEX', KEYS[4], 0)
if head and head ~= ARGV[6] then return 0 end
if #pending > 0 then redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID') end
local time = redis.call('TIME')
local expiry = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], expiry, ARGV[4])
redis.call('ZADD', KEYS[3], expiry, ARGV[4])
return 1
