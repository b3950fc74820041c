-- Closes a lease once: deletes it and bills (end - start) ms to the job's meter for its pool.
-- KEYS: lease, leases zset, job leases set, job meter, machine. ARGV: lease id, end ms (0 = last heartbeat).
-- Returns the billed ms, or -1 when the lease was already closed.
local h = redis.call('HMGET', KEYS[1], 'startedAt', 'lastHeartbeat', 'pool')
if not h[1] then return -1 end
local finish = tonumber(ARGV[2])
if finish == 0 then finish = tonumber(h[2]) end
local ms = math.max(0, finish - tonumber(h[1]))
redis.call('HINCRBY', KEYS[4], h[3], ms)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[5], 'leaseId') == ARGV[1] then redis.call('HDEL', KEYS[5], 'leaseId') end
return ms
