-- Takes the scheduler's leader lease when nobody holds it; the token carries a new fencing number.
-- KEYS: leader key, leader sequence. ARGV: replica id, ttl ms.
-- Returns the token, or false when another replica leads.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = ARGV[1] .. ':' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
