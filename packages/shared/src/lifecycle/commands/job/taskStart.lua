-- An attempt of a task starts: fenced by the job's epoch and the attempt's BullMQ lock token.
-- KEYS[JOB_KEYS+1] the BullMQ lock key of the task's queue job.
-- ARGV[7] stage id, ARGV[8] task id, ARGV[9] lock token, ARGV[10] task status (JSON).
-- Returns {'ok'}, {'task-done'} (an earlier attempt finished it) or a refusal.
local state, epoch, cur, refused = read_job()
if refused then return { refused } end
if state ~= 'running' then return { 'job-not-running' } end
if redis.call('GET', KEYS[JOB_KEYS + 1]) ~= ARGV[9] then return { 'lost-lock' } end
local stageId, taskId = ARGV[7], ARGV[8]
if redis.call('SISMEMBER', SK(stageId, 'done'), taskId) == 1 then return { 'task-done' } end
local prev = redis.call('HGET', SK(stageId, 'tasks'), taskId)
if prev then
  local from = cjson.decode(prev).state
  if not can('task', from, 'running') then return { 'bad-move' } end
end
redis.call('HSET', SK(stageId, 'tasks'), taskId, ARGV[10])
redis.call('ZADD', SK(stageId, 'taskIndex'), 0, taskId)
redis.call('SADD', SK(stageId, 'running'), taskId)
redis.call('SREM', SK(stageId, 'failed'), taskId)
emit('task', { stage = stageId, taskId = taskId, state = 'running', progress = 0 })
return { 'ok' }
