-- Progress of a running task attempt (same fences as taskStart).
-- KEYS[JOB_KEYS+1] lock key. ARGV[7] stage id, ARGV[8] task id, ARGV[9] lock token, ARGV[10] status
-- (JSON), ARGV[11] progress (0..1).
local state, epoch, cur, refused = read_job()
if refused then return { refused } end
if state ~= 'running' then return { 'job-not-running' } end
if redis.call('GET', KEYS[JOB_KEYS + 1]) ~= ARGV[9] then return { 'lost-lock' } end
if redis.call('SISMEMBER', SK(ARGV[7], 'running'), ARGV[8]) == 0 then return { 'bad-move' } end
redis.call('HSET', SK(ARGV[7], 'tasks'), ARGV[8], ARGV[10])
emit('task', { stage = ARGV[7], taskId = ARGV[8], state = 'running', progress = tonumber(ARGV[11]) })
return { 'ok' }
