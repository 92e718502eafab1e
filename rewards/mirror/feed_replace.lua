-- Replaces (or, with an empty entry, removes) the feed entries of one reward (a
-- reader's share of one campaign tweet) in one server-side step: the JSON of an old
-- entry is unknown to the writer, but its prefix is not. Single-key, so it also runs
-- on Redis Cluster.
-- KEYS[1]: the user's activity feed. ARGV: the reward's entry prefix (up to and
-- including the id's closing quote and the comma, so `x_share:1:2` never matches
-- `x_share:1:23`), the new entry ('' to remove), its score.
local prefix, entry = ARGV[1], ARGV[2]
local removed = 0
for _, item in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if item ~= entry and string.sub(item, 1, #prefix) == prefix then
    redis.call('ZREM', KEYS[1], item)
    removed = removed + 1
  end
end
if entry ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[3], entry)
end
return removed
