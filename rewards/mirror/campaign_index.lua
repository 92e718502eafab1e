-- The backfill's `by_campaign` entries: KEYS are campaign indexes (on a cluster, of
-- one slot), ARGV[i] the JSON [[created_at, member], ...] of KEYS[i], each member
-- `<user_id>:<campaign_id>:<campaign_tweet_id>` (built by schema.member). One ZADD
-- of many members per key.
for i, key in ipairs(KEYS) do
  local args = {}
  for _, entry in ipairs(cjson.decode(ARGV[i])) do
    args[#args + 1] = entry[1]
    args[#args + 1] = entry[2]
  end
  for first = 1, #args, 4000 do
    redis.call('ZADD', key, unpack(args, first, math.min(first + 3999, #args)))
  end
end
return 0
