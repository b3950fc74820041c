-- Restarts a failed or aborted job under a new epoch: writers of the old epoch are refused from now
-- on. It resumes at export when processing had succeeded, else at processing (done tasks are kept,
-- failed ones run again).
-- ARGV[7] the override (JSON), ARGV[8] deadline (ms, '' = none), ARGV[9] member `ws/jobId`.
-- Returns {'ok', new epoch, stage} or a refusal.
local state, epoch, cur, refused = read_job()
if refused then return { refused } end
if not can('job', state, 'running') or state == 'queued' then return { 'bad-move', state } end
local newEpoch = redis.call('HINCRBY', K.job, 'epoch', 1)
local overrides = redis.call('HGET', K.job, 'restartOverrides') or '[]'
if overrides == '[]' then
  overrides = '[' .. ARGV[7] .. ']'
else
  overrides = string.sub(overrides, 1, -2) .. ',' .. ARGV[7] .. ']'
end
local processing = get_stage('processing')
local stageId = (processing and processing.state == 'succeeded') and 'export' or 'processing'
redis.call('DEL', SK(stageId, 'failed'), SK(stageId, 'running'))
local st = get_stage(stageId)
if st then
  refused = move_stage(st, 'planning', 'restarting')
  if refused then return { refused } end
end
-- no export stage yet: stay on the succeeded processing stage, the driver moves on from there
local current = st and stageId or (processing and 'processing' or '')
redis.call('HSET', K.job, 'state', 'running', 'currentStage', current, 'deadlineAt', ARGV[8],
  'restartOverrides', overrides, 'lastUpdate', NOW, 'endedAt', '',
  'lastNotification', cjson.encode('restarted from stage ' .. stageId))
redis.call('SADD', K.active, ARGV[9])
redis.call('ZREM', K.ended, ARGV[9])
add_log(log_entry(stageId, nil, 'info', 'api', 'job-restarted',
  { stage = stageId, epoch = newEpoch, override = cjson.decode(ARGV[7]) }))
emit('state', { state = 'running', epoch = newEpoch })
return { 'ok', newEpoch, stageId }
