-- A stage's tasks are all on its queue: planning → running.
-- ARGV[7] stage id, ARGV[8] tasksNumber, ARGV[9] notification (JSON), ARGV[10] stage fields to
-- merge (JSON object, e.g. imagesPerTask).
local cur, refused = fence_running()
if refused then return { refused } end
if cur ~= ARGV[7] then return { 'stage-mismatch' } end
local st = get_stage(ARGV[7])
if not st or st.state ~= 'planning' then return { 'bad-move' } end
for k, v in pairs(cjson.decode(ARGV[10])) do st[k] = v end
st.tasksNumber = tonumber(ARGV[8])
refused = move_stage(st, 'running', cjson.decode(ARGV[9]))
if refused then return { refused } end
return { 'ok' }
