-- Updates the notification of a running stage (progress text); nothing else.
-- ARGV[7] stage id, ARGV[8] notification (JSON).
local cur, refused = fence_running()
if refused then return { refused } end
local st = get_stage(ARGV[7])
if not st or st.state ~= 'running' then return { 'bad-move' } end
st.notification = cjson.decode(ARGV[8])
st.lastEventTimestamp = NOW_ISO
put_stage(st)
return { 'ok' }
