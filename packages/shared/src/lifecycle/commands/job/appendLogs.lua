-- Appends pre-encoded log lines to a job's log (capped; what is dropped is counted). Unfenced: logs
-- of the api and scheduler that belong to no transition.
-- ARGV[7..] the lines.
if redis.call('EXISTS', K.job) == 0 then return { 'no-job' } end
for i = 7, #ARGV do add_log(ARGV[i]) end
return { 'ok' }
