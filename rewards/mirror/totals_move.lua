-- Moves a user's totals by the deltas of one write: HINCRBY each status's field, and
-- drop a field that reaches zero, so the hash holds exactly what totals_hash builds
-- from the rows. Single-key, so it also runs on Redis Cluster.
-- KEYS[1]: the user's totals hash. ARGV: status, delta (hundredths of a BUX), ...
for i = 1, #ARGV, 2 do
  if redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
