-- Preamble of every job script (prepended by ../../scripts.ts after the transitions table `T`).
-- KEYS[1..JOB_KEYS] is the job's key bundle in the order of jobKeyBundle(); script-specific keys follow.
-- ARGV[1] now (ms), ARGV[2] now (ISO), ARGV[3] leader token ('' = not checked), ARGV[4] expected
-- job epoch ('' = not checked), ARGV[5] log cap, ARGV[6] event stream length; the script's own from ARGV[7].
local function can(kind, from, to)
  local f = T[kind][from]
  return f ~= nil and f[to] == true
end
local K = {
  job = KEYS[1], snapshot = KEYS[2], stages = KEYS[3], logs = KEYS[4], events = KEYS[5],
  meter = KEYS[6], leases = KEYS[7], active = KEYS[8], ended = KEYS[9], outbox = KEYS[10],
  outboxDue = KEYS[11], leader = KEYS[12], index = KEYS[13],
}
local STAGE_BASE = { processing = 14, export = 20 }
local STAGE_PART = { tasks = 0, taskIndex = 1, done = 2, failed = 3, running = 4, counters = 5 }
local function SK(stage, part)
  local b = STAGE_BASE[stage]
  if not b then return nil end
  return KEYS[b + STAGE_PART[part]]
end
local NOW, NOW_ISO = ARGV[1], ARGV[2]

local function fence_leader()
  if ARGV[3] ~= '' and redis.call('GET', K.leader) ~= ARGV[3] then return 'not-leader' end
  return nil
end

-- The job's state and epoch, or a refusal when it is missing or of another epoch.
local function read_job()
  local v = redis.call('HMGET', K.job, 'state', 'epoch', 'currentStage')
  if not v[1] then return nil, nil, nil, 'no-job' end
  if ARGV[4] ~= '' and v[2] ~= ARGV[4] then return v[1], v[2], v[3], 'stale-epoch' end
  return v[1], v[2], v[3], nil
end

-- The fences of the scheduler's moves on a running job: the leader token, the epoch, the state.
-- Returns the job's current stage, or nil and the refusal.
local function fence_running()
  local refused = fence_leader()
  if refused then return nil, refused end
  local state, _, cur
  state, _, cur, refused = read_job()
  if refused then return nil, refused end
  if state ~= 'running' then return nil, 'job-not-running' end
  return cur, nil
end

local function emit(kind, payload)
  redis.call('XADD', K.events, 'MAXLEN', '~', ARGV[6], '*', 'type', kind, 'data', cjson.encode(payload))
end

-- Appends a pre-encoded JobLog (createdAt included) unless the job's log is full, then counts it.
local function add_log(encoded)
  if redis.call('LLEN', K.logs) < tonumber(ARGV[5]) then
    redis.call('RPUSH', K.logs, encoded)
    redis.call('XADD', K.events, 'MAXLEN', '~', ARGV[6], '*', 'type', 'log', 'data', encoded)
  else
    redis.call('HINCRBY', K.job, 'logsDropped', 1)
  end
end

local function log_entry(stage, task, severity, module, logType, payload)
  return cjson.encode({
    createdAt = NOW_ISO, processingStageId = stage or cjson.null, taskId = task or cjson.null,
    severity = severity, reportingModule = module, logType = logType, payload = payload,
  })
end

local function get_stage(stageId)
  local raw = redis.call('HGET', K.stages, stageId)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function put_stage(st)
  redis.call('HSET', K.stages, st.processingStageId, cjson.encode(st))
end

-- Moves a stage; refuses moves the table does not allow.
local function move_stage(st, to, notification)
  if st.state ~= to and not can('stage', st.state, to) then return 'bad-move' end
  st.state = to
  if notification ~= nil then st.notification = notification end
  st.lastEventTimestamp = NOW_ISO
  put_stage(st)
  emit('stage', { stage = st.processingStageId, state = to })
  return nil
end

-- Every running task of a stage gets a terminal status (a job ended under it).
local function cancel_running(stageId, note)
  local running = SK(stageId, 'running')
  local tasks = SK(stageId, 'tasks')
  for _, id in ipairs(redis.call('SMEMBERS', running)) do
    local raw = redis.call('HGET', tasks, id)
    if raw then
      local t = cjson.decode(raw)
      t.state = 'cancelled'
      t.notification = note
      t.eventTimestamp = NOW_ISO
      redis.call('HSET', tasks, id, cjson.encode(t))
      emit('task', { stage = stageId, taskId = id, state = 'cancelled' })
    end
  end
  redis.call('DEL', running)
end
