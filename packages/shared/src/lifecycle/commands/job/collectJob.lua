-- Deletes every key of a job that ended before the cutoff (retention). A job restarted since it was
-- listed is left alone.
-- ARGV[7] member `ws/jobId`, ARGV[8] jobId, ARGV[9] cutoff (ms).
local ended = redis.call('ZSCORE', K.ended, ARGV[7])
if not ended or tonumber(ended) > tonumber(ARGV[9]) then return { 'skip' } end
local state = redis.call('HGET', K.job, 'state')
if state == 'queued' or state == 'running' then return { 'skip' } end
local epoch = redis.call('HGET', K.job, 'epoch') or '0'
for i = 1, 7 do redis.call('DEL', KEYS[i]) end
for i = 14, JOB_KEYS do redis.call('DEL', KEYS[i]) end
redis.call('ZREM', K.ended, ARGV[7])
redis.call('ZREM', K.index, ARGV[8])
redis.call('SREM', K.active, ARGV[7])
return { 'ok', epoch }
