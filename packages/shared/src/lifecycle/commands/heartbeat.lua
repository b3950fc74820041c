-- A machine's heartbeat on its lease. Writes only while the lease exists and is the machine's: a
-- heartbeat that arrives after the lease was closed changes nothing.
-- KEYS: lease, leases zset, machine, pool machines zset of cpu, of gpu. ARGV: now, lease id, machine id.
-- Returns {'ok', workspace, job id, epoch} or {'no-lease'}.
local l = redis.call('HMGET', KEYS[1], 'machineId', 'pool', 'workspace', 'jobId', 'epoch')
if not l[1] or l[1] ~= ARGV[3] then return { 'no-lease' } end
redis.call('HSET', KEYS[1], 'lastHeartbeat', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], 'lastHeartbeat', ARGV[1])
redis.call('ZADD', l[2] == 'gpu' and KEYS[5] or KEYS[4], ARGV[1], ARGV[3])
return { 'ok', l[3], l[4], l[5] }
