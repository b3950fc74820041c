-- Ends a job: its terminal state, its current stage and running tasks closed, off the active set,
-- onto the ended index (retention), a log line, and its side effects written to the outbox, all in
-- one step. A job that already ended is left as it is.
-- ARGV[7] target state (succeeded|failed|aborted), ARGV[8] notification (plain text), ARGV[9] log
-- type, ARGV[10] log severity, ARGV[11] log payload (JSON), ARGV[12] outbox entry id, ARGV[13]
-- outbox entry (JSON), ARGV[14] member `ws/jobId`, ARGV[15] reporting module.
-- Returns {'ok', epoch} or {'job-terminal', state} or another refusal.
local refused = fence_leader()
if refused then return { refused } end
local state, epoch, cur
state, epoch, cur, refused = read_job()
if refused then return { refused } end
local target = ARGV[7]
if not can('job', state, target) then
  if state == 'succeeded' or state == 'failed' or state == 'aborted' then return { 'job-terminal', state } end
  return { 'bad-move', state }
end
redis.call('HSET', K.job, 'state', target, 'lastNotification', cjson.encode(ARGV[8]), 'lastUpdate', NOW,
  'endedAt', NOW)
local stageState = target == 'succeeded' and 'succeeded' or target
if cur ~= '' then
  local st = get_stage(cur)
  if st and (st.state == 'planning' or st.state == 'running') then
    move_stage(st, stageState, ARGV[8])
  end
end
local note = target == 'aborted' and 'cancelled: job aborted' or ('cancelled: job ' .. target)
cancel_running('processing', note)
cancel_running('export', note)
redis.call('SREM', K.active, ARGV[14])
redis.call('ZADD', K.ended, NOW, ARGV[14])
add_log(log_entry(cur ~= '' and cur or nil, nil, ARGV[10], ARGV[15], ARGV[9], cjson.decode(ARGV[11])))
redis.call('HSET', K.outbox, ARGV[12], ARGV[13])
redis.call('ZADD', K.outboxDue, NOW, ARGV[12])
emit('state', { state = target, terminal = true })
return { 'ok', epoch }
