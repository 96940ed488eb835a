-- approval-decide: records the first decision on a tool call waiting for approval.
-- KEYS[1]  the conversation's approvals hash: field approvalId = 'pending' | 'approved' | 'denied'
-- ARGV[1]  approvalId
-- ARGV[2]  'approved' or 'denied'
-- Returns 'first' when this decision is the first, the earlier decision otherwise, 'unknown' when no such approval waits.
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then return 'unknown' end
if state ~= 'pending' then return state end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'first'
