-- Stores a new job (queued, epoch 0) with its snapshot, unless the id exists.
-- ARGV[7] member `ws/jobId`, ARGV[8] jobId, ARGV[9] snapshot JSON, ARGV[10..] job hash field/value pairs.
-- Returns {'created'} or {'exists', stored definition hash}.
if redis.call('EXISTS', K.job) == 1 then
  return { 'exists', redis.call('HGET', K.job, 'definitionHash') }
end
redis.call('HSET', K.job, unpack(ARGV, 10))
redis.call('SET', K.snapshot, ARGV[9])
redis.call('ZADD', K.index, NOW, ARGV[8])
redis.call('SADD', K.active, ARGV[7])
emit('state', { state = 'queued' })
return { 'created' }
