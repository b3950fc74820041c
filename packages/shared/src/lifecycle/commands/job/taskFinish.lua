-- A task ends (succeeded or failed for good), with its file counts, the output files it wrote
-- (listed in the stage's output batch in the same step, so a refused attempt lists nothing) and its
-- log lines. Fenced by the epoch and either the attempt's lock token (a worker) or, with an empty
-- token, the leader token (the scheduler recording a task BullMQ failed without reaching us).
-- KEYS[JOB_KEYS+1] lock key (ignored without a token), then one (files zset, file-meta hash) pair per
-- output part. ARGV[7] stage id, ARGV[8] task id, ARGV[9] lock token, ARGV[10] '1' succeeded / '0'
-- failed, ARGV[11] status (JSON), ARGV[12] counts `ok,failed`, ARGV[13] number of output parts,
-- then per part: n, then n (name, record JSON) pairs; then the number of log lines and the lines.
local state, epoch, cur, refused = read_job()
if refused then return { refused } end
if state ~= 'running' then return { 'job-not-running' } end
if ARGV[9] ~= '' then
  if redis.call('GET', KEYS[JOB_KEYS + 1]) ~= ARGV[9] then return { 'lost-lock' } end
else
  if ARGV[3] == '' then return { 'not-leader' } end
  refused = fence_leader()
  if refused then return { refused } end
end
local stageId, taskId = ARGV[7], ARGV[8]
if redis.call('SISMEMBER', SK(stageId, 'done'), taskId) == 1 then return { 'task-done' } end
local to = ARGV[10] == '1' and 'succeeded' or 'failed'
local prev = redis.call('HGET', SK(stageId, 'tasks'), taskId)
if prev then
  local from = cjson.decode(prev).state
  if not can('task', from, to) then return { 'bad-move' } end
end
redis.call('HSET', SK(stageId, 'tasks'), taskId, ARGV[11])
redis.call('ZADD', SK(stageId, 'taskIndex'), 0, taskId)
redis.call('SREM', SK(stageId, 'running'), taskId)
if to == 'succeeded' then
  redis.call('SADD', SK(stageId, 'done'), taskId)
  redis.call('SREM', SK(stageId, 'failed'), taskId)
else
  redis.call('SADD', SK(stageId, 'failed'), taskId)
end
redis.call('HSET', SK(stageId, 'counters'), taskId, ARGV[12])
local a = 14
for p = 1, tonumber(ARGV[13]) do
  local files, meta = KEYS[JOB_KEYS + 2 * p], KEYS[JOB_KEYS + 2 * p + 1]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    redis.call('ZADD', files, 0, ARGV[a])
    redis.call('HSET', meta, ARGV[a], ARGV[a + 1])
    a = a + 2
  end
end
local logs = tonumber(ARGV[a])
for i = 1, logs do add_log(ARGV[a + i]) end
emit('task', { stage = stageId, taskId = taskId, state = to, progress = 1 })
return { 'ok' }
