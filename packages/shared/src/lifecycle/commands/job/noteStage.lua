-- Updates the notification of a running stage (progress text); nothing else.
-- ARGV[7] stage id, ARGV[8] notification (JSON).
local refused = fence_leader()
if refused then return { refused } end
local state, epoch, cur
state, epoch, cur, refused = read_job()
if refused then return { refused } end
if state ~= 'running' then return { 'job-not-running' } end
local st = get_stage(ARGV[7])
if not st or st.state ~= 'running' then return { 'bad-move' } end
st.notification = cjson.decode(ARGV[8])
st.lastEventTimestamp = NOW_ISO
put_stage(st)
return { 'ok' }
