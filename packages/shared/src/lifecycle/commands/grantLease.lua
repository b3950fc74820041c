-- Grants a machine a lease on a job, checking in the same step that the job still runs at the
-- epoch the caller saw and that the job's machine cap is not reached (concurrent grants can never
-- over-grant), and that the machine holds no other lease.
-- KEYS: job, job leases set, lease, leases zset, machine, pool machines zset.
-- ARGV: now, lease id, machine id, pool, workspace, job id, epoch, cap (-1 = none).
local v = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if not v[1] then return { 'no-job' } end
if v[1] ~= 'running' then return { 'job-not-running' } end
if v[2] ~= ARGV[7] then return { 'stale-epoch' } end
local cap = tonumber(ARGV[8])
if cap >= 0 and redis.call('SCARD', KEYS[2]) >= cap then return { 'cap-reached' } end
local held = redis.call('HGET', KEYS[5], 'leaseId')
if held and held ~= '' then return { 'bad-move' } end
redis.call('HSET', KEYS[3], 'leaseId', ARGV[2], 'machineId', ARGV[3], 'pool', ARGV[4], 'workspace', ARGV[5],
  'jobId', ARGV[6], 'epoch', ARGV[7], 'startedAt', ARGV[1], 'lastHeartbeat', ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[5], 'pool', ARGV[4], 'leaseId', ARGV[2], 'lastHeartbeat', ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[1], ARGV[3])
return { 'ok' }
