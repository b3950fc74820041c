-- Starts (or starts again) the planning of a stage: the stage moves to `planning` (created from
-- ARGV[8] when absent), the job to `running` with this stage as its current one. A job moves on to
-- a new stage only from a succeeded current stage.
-- ARGV[7] stage id, ARGV[8] initial stage JSON, ARGV[9] deadline (ms, '' = none; kept once set),
-- ARGV[10] the job's notification (JSON).
-- Returns {'ok', stage JSON as it was before this move ('' when new)} or {refusal}.
local refused = fence_leader()
if refused then return { refused } end
local state, epoch, cur
state, epoch, cur, refused = read_job()
if refused then return { refused } end
if state ~= 'queued' and state ~= 'running' then return { 'job-not-running' } end
local stageId = ARGV[7]
if cur ~= '' and cur ~= stageId then
  local prev = get_stage(cur)
  if not prev or prev.state ~= 'succeeded' then return { 'stage-mismatch' } end
end
local st = get_stage(stageId)
local before = ''
if st then
  before = cjson.encode(st)
  if st.state ~= 'planning' then
    refused = move_stage(st, 'planning', nil)
    if refused then return { refused } end
  end
else
  st = cjson.decode(ARGV[8])
  st.state = 'planning'
  st.lastEventTimestamp = NOW_ISO
  put_stage(st)
  emit('stage', { stage = stageId, state = 'planning' })
end
if state == 'queued' then
  redis.call('HSET', K.job, 'state', 'running')
  emit('state', { state = 'running' })
end
redis.call('HSET', K.job, 'currentStage', stageId, 'lastUpdate', NOW, 'lastNotification', ARGV[10])
if ARGV[9] ~= '' and (redis.call('HGET', K.job, 'deadlineAt') or '') == '' then
  redis.call('HSET', K.job, 'deadlineAt', ARGV[9])
end
return { 'ok', before }
