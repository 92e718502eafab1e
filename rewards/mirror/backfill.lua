-- The backfill's writes for many rows in one call: the state write_reward (the live
-- path) leaves in the users' slots, with fewer commands. A row is one reward: a
-- reader's share of one campaign tweet, keyed by user, campaign and campaign tweet.
-- Every writer changes a reward's hash and feed entry together (MULTI/EXEC or one
-- script call), so the stored status says whether the reward has a feed entry to
-- replace: a new reward needs no removals. `by_user` writes are grouped: one ZADD per user with every member of
-- the call, which leaves about two commands per row (HMGET, HSET) plus one per user.
-- Each user's totals move, in the same call, by what their rewards' hashes held before
-- and hold now (one HINCRBY per user and status). The campaign indexes are another
-- slot's, written by campaign_index.lua.
--
-- KEYS[1]: a key of the call's slot (the first row's by_user), so that a cluster
-- client sends the call to the node that holds it. On a cluster every row of a call
-- is a user of that slot (rewards/mirror/backfill.py groups them), so every key the
-- script builds is in it; on a single server a call may hold any rows.
-- ARGV[1]: JSON of the layout (backfill.py, _layout): the mirrored columns in row
-- order, and the pieces of each key, member and feed-entry prefix around the ids,
-- taken from the key functions, and the amount's decimal places. ARGV[2]: JSON
-- [rows, feed entries], a row holding
-- the columns (times as epoch seconds, the amount as text) and its entry "" unless
-- the row is rewarded.
local t = cjson.decode(ARGV[1])
local data = cjson.decode(ARGV[2])
local rows, entries = data[1], data[2]
local null = cjson.null
local col = {}
for i, name in ipairs(t.columns) do
  col[name] = i
end
local feed_statuses = {}
for _, name in ipairs(t.feed_statuses) do
  feed_statuses[name] = true
end
local groups, order = {}, {}
local moves, moved = {}, {}

-- "150.00" in hundredths of a BUX (t.places decimals), as totals_hash counts it.
local function units(amount)
  if not amount or amount == null or amount == '' then
    return 0
  end
  local sign, whole, fraction = string.match(amount, '^(-?)(%d*)%.?(%d*)$')
  fraction = string.sub(fraction .. string.rep('0', t.places), 1, t.places)
  local value = (tonumber(whole) or 0) * 10 ^ t.places + (tonumber(fraction) or 0)
  return sign == '-' and -value or value
end

local function move(user, status, delta)
  if delta == 0 then
    return
  end
  local key = t.totals[1] .. user .. t.totals[2]
  if not moves[key] then
    moves[key] = {}
    moved[#moved + 1] = key
  end
  moves[key][status] = (moves[key][status] or 0) + delta
end

local function add(key, ...)
  local group = groups[key]
  if not group then
    group = {}
    groups[key] = group
    order[#order + 1] = key
  end
  for i = 1, select('#', ...) do
    group[#group + 1] = select(i, ...)
  end
end

local function int(value)
  return string.format('%d', value)
end

for i, row in ipairs(rows) do
  local user, campaign = int(row[col.user_id]), int(row[col.campaign_id])
  local tweet = int(row[col.campaign_tweet_id])
  local status, rewarded, entry = row[col.status], row[col.rewarded_at], entries[i]
  local created = row[col.created_at]
  local key = t.hash[1] .. user .. t.hash[2] .. campaign .. t.hash[3] .. tweet
    .. t.hash[4]
  local item = t.member[1] .. user .. t.member[2] .. campaign .. t.member[3] .. tweet
    .. t.member[4]
  local feed = t.feed[1] .. user .. t.feed[2]
  local stored = redis.call('HMGET', key, 'status', 'bux_rewarded')
  local old = stored[1]
  if old then
    redis.call('DEL', key)
    move(user, old, -units(stored[2]))
  end
  move(user, status, units(row[col.bux_rewarded]))
  -- The hash: every column that is neither null nor empty, numbers as integers
  -- (ids, and times in Unix seconds), as reward_hash writes it.
  local fields = {}
  for j, name in ipairs(t.columns) do
    local value = row[j]
    if value ~= null and value ~= '' then
      if type(value) == 'number' then
        value = int(value)
      end
      fields[#fields + 1] = name
      fields[#fields + 1] = value
    end
  end
  redis.call('HSET', key, unpack(fields))
  add(t.by_user[1] .. user .. t.by_user[2], created, item)
  if feed_statuses[old] and (entry == '' or
      tonumber(redis.call('ZSCORE', feed, entry)) ~= rewarded) then
    -- The reward's entry changed: remove the old one, found by its prefix.
    local prefix = t.entry[1] .. campaign .. t.entry[2] .. tweet .. t.entry[3]
    for _, stale in ipairs(redis.call('ZRANGE', feed, 0, -1)) do
      if stale ~= entry and string.sub(stale, 1, #prefix) == prefix then
        redis.call('ZREM', feed, stale)
      end
    end
  end
  if entry ~= '' then
    add(feed, rewarded, entry)
  end
end

for _, key in ipairs(order) do
  local members = groups[key]
  for first = 1, #members, 4000 do
    redis.call('ZADD', key, unpack(members, first, math.min(first + 3999, #members)))
  end
end
-- As totals_move.lua: a status whose sum reaches zero has no field.
for _, key in ipairs(moved) do
  for status, delta in pairs(moves[key]) do
    if delta ~= 0 and redis.call('HINCRBY', key, status, int(delta)) == 0 then
      redis.call('HDEL', key, status)
    end
  end
end
return 0
