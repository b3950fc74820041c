-- Ends a running stage once every task is accounted for: succeeded when none failed, else failed.
-- The job itself moves on in a separate step (beginPlan of the next stage, or endJob), so every
-- step stays small and the driver converges from whatever it finds after a crash.
-- ARGV[7] stage id.
-- Returns {'ok', 'succeeded'|'failed', done, failed, filesOk, filesFailed} or {'incomplete', done, failed}.
local cur, refused = fence_running()
if refused then return { refused } end
local stageId = ARGV[7]
if cur ~= stageId then return { 'stage-mismatch' } end
local st = get_stage(stageId)
if not st or st.state ~= 'running' then return { 'bad-move' } end
local done = redis.call('SCARD', SK(stageId, 'done'))
local failed = redis.call('SCARD', SK(stageId, 'failed'))
if done + failed < st.tasksNumber then return { 'incomplete', done, failed } end
local filesOk, filesFailed = 0, 0
local counters = redis.call('HGETALL', SK(stageId, 'counters'))
for i = 2, #counters, 2 do
  local a, b = string.match(counters[i], '^(%d+),(%d+)$')
  filesOk = filesOk + tonumber(a)
  filesFailed = filesFailed + tonumber(b)
end
local outcome
if failed > 0 then
  outcome = 'failed'
  refused = move_stage(st, 'failed', string.format('%d of %d tasks failed', failed, st.tasksNumber))
else
  outcome = 'succeeded'
  refused = move_stage(st, 'succeeded', { tasks = st.tasksNumber, filesProcessed = filesOk, filesFailed = filesFailed })
  add_log(log_entry(stageId, nil, 'info', 'scheduler', 'stage-finished',
    { stage = st.processingStageName, ok = filesOk, failed = filesFailed }))
end
if refused then return { refused } end
redis.call('HSET', K.job, 'lastUpdate', NOW)
return { 'ok', outcome, done, failed, filesOk, filesFailed }
