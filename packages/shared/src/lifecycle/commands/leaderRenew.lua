-- Extends the leader lease only while the caller still holds it (the same check as BullMQ's lock
-- extension). KEYS: leader key. ARGV: token, ttl ms. Returns 1 when renewed, 0 when lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
