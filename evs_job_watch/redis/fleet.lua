-- The fleet's watch set in Redis: every change is one call of this script, atomic.
--
-- ARGV: prefix, operation, replica id, epoch, then the operation's own arguments.
-- KEYS: every key the script touches, P..FIXED[i] in that order: the script names no key
-- of its own (no per-job or per-replica key), so a Redis Cluster, or a proxy that checks
-- every key a script touches against its KEYS, runs it. P's hash tag {namespace} puts all
-- of a namespace's keys in one slot. A job is a field (or a member) of the keys below.
-- Times are Redis's own clock (TIME), in microseconds, so replicas need no common clock.
--
-- Keys (prefix P = "evs_job_watch:{namespace}:v2:"; v2: the layout of this script):
--   P.."due"        zset job -> when anyone may claim it: its due time when unowned,
--                   its lease expiry when owned (so a dead owner's watches fall due)
--   P.."w"          hash  the watches, five fields each, named by attribute and job:
--                   's:'..job (delivered status), 'u:'..job (delivered sub-job
--                   statuses, JSON), 'owner:'..job (replica id or "": there for every
--                   watch), 'holds:'..job (replicas whose callers hold it), 'dl:'..job
--                   (its deadline: the latest of its holders', 'none' once one had
--                   none; absent while no holder told one)
--   P.."own"        zset  (all scores 0) mine(rid) .. job for each job a replica owns,
--                   read by lexical range
--   P.."replicas"   zset  replica id -> heartbeat expiry
--   P.."ended"      hash  job -> how the job ended (JSON), kept for a while after ...
--   P.."kept"       zset  job -> ... until then (us); trimmed by the claim cycles
--   P.."share"      hash  replica id -> its share of the fleet's rate limit (requests/s)
--   P.."epoch"      string  changes when Redis lost its data: replicas then re-add theirs
--   P.."seen"       string  when the script last ran (a gap: Redis was away)
--   P.."learned"    hash  kind of job -> its most recent durations (JSON), the fleet's
--   P.."log"        stream  endings, releases, deadlines passed, 429s and unclaimed
--                   work, for every replica (each reads on from the last entry it
--                   saw: no gap)
--   P.."events"     stream  delivered events (read by replicas with an event stream open)

local P, op, rid, epoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local FIXED = {'epoch', 'due', 'replicas', 'share', 'log', 'events', 'seen', 'learned',
               'w', 'own', 'ended', 'kept'}
for i, name in ipairs(FIXED) do
  if KEYS[i] ~= P .. name then return redis.error_reply('undeclared key ' .. P .. name) end
end
-- The only names of keys below: each is one of KEYS.
local EPOCH, DUE, REPLICAS, SHARE, LOG, EVENTS, SEEN, LEARNED =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local W, OWN, ENDED, KEPT = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Entries kept in each stream, about: a replica away for longer than they cover asks
-- Redis how each watch it follows stands instead (the listener's catch-up).
local LOG_LENGTH, EVENTS_LENGTH = 10000, 2000

-- News for every replica, on the fleet's log.
local function tell(m)
  redis.call('XADD', LOG, 'MAXLEN', '~', LOG_LENGTH, '*', 'm', m)
end

local function num(x) return string.format('%.0f', x) end

-- A replica's part of OWN: its members start with mine(r) (the length of r first, so
-- that no replica's part holds another's), each followed by a job id.
local function mine(r) return #r .. ':' .. r end
local function owned_by(r)
  local start, jobs = mine(r), {}
  for _, m in ipairs(redis.call('ZRANGEBYLEX', OWN, '[' .. start, '[' .. start .. '\255')) do
    jobs[#jobs + 1] = string.sub(m, #start + 1)
  end
  return jobs
end
local function disown(r, job) redis.call('ZREM', OWN, mine(r) .. job) end

-- How the job ended (JSON), while it is kept; else nil.
local function ending(job)
  local until_ = tonumber(redis.call('ZSCORE', KEPT, job) or '0')
  if until_ <= now then return nil end
  return redis.call('HGET', ENDED, job)
end

-- Whether the fleet watches the job (every watch has an owner field, '' if nobody).
local function watched(job) return redis.call('HEXISTS', W, 'owner:' .. job) == 1 end

-- Redis lost its data (a restart without persistence): every replica re-adds its own.
local current = redis.call('GET', EPOCH)
if current ~= epoch then
  if not current then
    current = num(now)
    redis.call('SET', EPOCH, current)
  end
  return {'reset', current}
end

-- Redis was away (down, stalled, or restarted with its data) or nobody called it for
-- half a lease: the leases and heartbeats did not lapse through fault of their holders,
-- so each is given a lease from now. Else the first replica back would take everything
-- the others polled, before they could send what they delivered meanwhile.
if op == 'claim' or op == 'batch' then
  local lease = tonumber(ARGV[5])
  local seen = tonumber(redis.call('GET', SEEN) or now)
  redis.call('SET', SEEN, num(now))
  if now - seen > lease / 2 then
    local alive = redis.call('ZRANGE', REPLICAS, 0, -1)
    for _, r in ipairs(alive) do
      redis.call('ZADD', REPLICAS, 'GT', now + lease, r)
      for _, job in ipairs(owned_by(r)) do
        if redis.call('HGET', W, 'owner:' .. job) == r then
          redis.call('ZADD', DUE, 'GT', now + lease, job)
        end
      end
    end
  end
end

-- The previous owner's set keeps the job: its next claim cycle finds the job owned by
-- another and reports it lost, so that it stops polling it (a replica whose lease lapsed
-- while it lived must learn it, whatever made it late). A dead replica's set goes with
-- its heartbeat (room); if it was only late, its next claim cycle says so ("gone"), and
-- it stops polling everything it polled.
local function take(job, lease)
  redis.call('HSET', W, 'owner:' .. job, rid)
  redis.call('ZADD', OWN, 0, mine(rid) .. job)
  redis.call('ZADD', DUE, now + lease, job)
  local known = redis.call('HMGET', W, 's:' .. job, 'u:' .. job)
  return {job, known[1] or '', known[2] or '{}'}
end

-- A watch's deadline (field dl, us): the latest its holders asked for, while it lives;
-- 'none' once any holder had none. x: us this replica's holders wait from now (-1: one
-- of them waits without a deadline; nil: no holder here, nothing to tell).
local function hold_until(job, x)
  if x == nil or x == cjson.null then return end
  local dl = redis.call('HGET', W, 'dl:' .. job)
  if x < 0 or dl == 'none' then
    redis.call('HSET', W, 'dl:' .. job, 'none')
  elseif not dl or tonumber(dl) < now + x then
    redis.call('HSET', W, 'dl:' .. job, num(now + x))
  end
end

-- When the watch's deadline passes (us), or nil if it has none.
local function deadline(job)
  return tonumber(redis.call('HGET', W, 'dl:' .. job) or '')
end

local function drop(job)
  local owner = redis.call('HGET', W, 'owner:' .. job)
  if owner and owner ~= '' then disown(owner, job) end
  redis.call('HDEL', W, 's:' .. job, 'u:' .. job, 'owner:' .. job, 'holds:' .. job, 'dl:' .. job)
  redis.call('ZREM', DUE, job)
end

-- The watch's deadline passed: it ends for the whole fleet, whoever holds it (a holder
-- that died holds it no longer). Not kept as an ending: a later watch starts anew.
local function expire(job)
  drop(job)
  tell(cjson.encode({k = 'exp', j = job}))
end

-- This replica's fair share of the watch set, and how many it owns beyond it. Only a
-- claim cycle beats the heart: a batch sent after a close must not revive a replica.
local function room(owned, beat)
  if beat then redis.call('ZADD', REPLICAS, now + tonumber(ARGV[5]), rid) end
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', REPLICAS, '-inf', now)) do
    local start = mine(dead)
    redis.call('ZREMRANGEBYLEX', OWN, '[' .. start, '[' .. start .. '\255')
  end
  redis.call('ZREMRANGEBYSCORE', REPLICAS, '-inf', now)
  local live = math.max(redis.call('ZCARD', REPLICAS), 1)
  local fair = math.ceil(redis.call('ZCARD', DUE) / live)
  return fair - owned, fair
end

-- This replica's share of the fleet's rate limit: its part of the watches, but never
-- more than the others leave, so the shares never add up to more than the limit. A
-- share that is lowered still counts at its old value for as long as the replica had
-- reserved request slots ahead (``ahead``, us): slots it gave out under the old share.
-- A dead replica's share goes with its heartbeat. Kept as "share old until".
local function share(rate, owned, total, ahead, cap)
  local others = 0
  local mine = {0, 0, 0}
  local shares = redis.call('HGETALL', SHARE)
  for i = 1, #shares, 2 do
    local r, v = shares[i], {}
    for x in string.gmatch(shares[i + 1], '%S+') do v[#v + 1] = tonumber(x) end
    if r == rid then
      mine = v
    elseif redis.call('ZSCORE', REPLICAS, r) then
      others = others + ((now < v[3]) and math.max(v[1], v[2]) or v[1])
    else
      redis.call('HDEL', SHARE, r)
    end
  end
  local live = math.max(redis.call('ZCARD', REPLICAS), 1)
  local grant = math.max(math.min(rate * (owned + 1) / (total + live), rate - others), 0)
  if cap >= 0 then grant = math.min(grant, cap) end
  local old, untl = mine[2], mine[3]
  if grant < mine[1] then
    old, untl = math.max(mine[1], (now < untl) and old or 0), now + ahead
  end
  redis.call('HSET', SHARE, rid, string.format('%.6f %.6f %.0f', grant, old, untl))
  return grant
end

if op == 'claim' then
  -- ARGV 5: lease (us), 6: most watches to claim now, 7: the fleet's rate limit (0: none),
  -- 8: how far ahead this replica reserved request slots (us), 9: the most this replica
  -- may be granted (-1: no more than the rest; else it holds its share after a reset)
  local lease, most = tonumber(ARGV[5]), tonumber(ARGV[6])
  local gone = redis.call('ZSCORE', REPLICAS, rid) and 0 or 1
  local lost, held, expired, first_dl = {}, owned_by(rid), 0, nil
  for _, job in ipairs(held) do
    local known = redis.call('HMGET', W, 'owner:' .. job, 'dl:' .. job)
    local dl = tonumber(known[2] or '')
    if known[1] ~= rid then
      disown(rid, job)
      lost[#lost + 1] = job
    elseif dl and dl <= now then
      expire(job)
      expired = expired + 1
    else
      redis.call('ZADD', DUE, 'XX', now + lease, job)
      if dl and (not first_dl or dl < first_dl) then first_dl = dl end
    end
  end
  local owned = #held - #lost - expired
  local free, fair = room(owned, true)
  -- Endings kept long enough go (a key's expiry, as fields have none everywhere).
  local old = redis.call('ZRANGEBYSCORE', KEPT, '-inf', now, 'LIMIT', 0, 1000)
  for _, job in ipairs(old) do redis.call('HDEL', ENDED, job) end
  if #old > 0 then redis.call('ZREM', KEPT, unpack(old)) end
  local claimed = {}
  if free > 0 then
    local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, math.min(free, most))
    for _, job in ipairs(due) do
      local dl = deadline(job)
      if dl and dl <= now then
        expire(job)  -- its deadline passed while nobody polled it (its owner died)
      else
        claimed[#claimed + 1] = take(job, lease)
        if dl and (not first_dl or dl < first_dl) then first_dl = dl end
      end
    end
  end
  local shed = owned - fair - math.max(1, math.floor(fair / 10))
  local rate, granted = tonumber(ARGV[7]), 0
  if rate > 0 then
    granted = share(rate, owned + #claimed, redis.call('ZCARD', DUE), tonumber(ARGV[8]),
                    tonumber(ARGV[9]))
  end
  -- With room left, when the next watch falls due (a handover, or a lease running out):
  -- the replica's next cycle comes no later, so no watch waits for a whole cycle.
  local soon = -1
  if free > #claimed then
    local first = redis.call('ZRANGE', DUE, 0, 0, 'WITHSCORES')
    if first[2] then soon = math.max(tonumber(first[2]) - now, 0) end
  end
  -- A watch polled here falls past its deadline: the next cycle ends it then.
  if first_dl and (soon < 0 or first_dl - now < soon) then soon = math.max(first_dl - now, 0) end
  return {'ok', lost, claimed, math.max(shed, 0), num(soon), tostring(granted), gone}
end

if op == 'check' then
  -- ARGV 5..: job ids. For each: how it ended (JSON), 'live', or 'gone'.
  local out = {}
  for i = 5, #ARGV do
    local job = ARGV[i]
    local ended = ending(job)
    if ended then out[#out + 1] = ended
    elseif watched(job) then out[#out + 1] = 'live'
    else out[#out + 1] = 'gone' end
  end
  return out
end

if op ~= 'batch' then return redis.error_reply('unknown operation ' .. op) end

-- ARGV 5: lease (us), 6: how long an ending is kept (ms), 7: a JSON list of items.
local lease, keep = tonumber(ARGV[5]), tonumber(ARGV[6])
local items = cjson.decode(ARGV[7])
local out, work = {}, false
local start = mine(rid)
local owned = redis.call('ZLEXCOUNT', OWN, '[' .. start, '[' .. start .. '\255')
local free = room(owned, false)
for _, it in ipairs(items) do
  local a, job = it.a, it.j
  if a == 'add' then
    -- A caller of this replica holds the job (it.h), or the replica re-adds what it knew
    -- after Redis lost its data (it.g; it.o: it polled the job). The replica that polled
    -- a job knows best what was delivered of it: its re-add takes the watch with its
    -- statuses. A replica that only followed it re-adds it due it.w us later (a lease and
    -- the longest retry delays), so that the one that polled it has that long to come
    -- back and take it.
    local ended = ending(job)
    local dl = deadline(job)
    if dl and dl <= now then expire(job) end  -- over: this add starts a new watch
    if ended then
      out[#out + 1] = {'ended', ended}
    elseif watched(job) then
      if it.h == 1 then redis.call('HINCRBY', W, 'holds:' .. job, 1) end
      hold_until(job, it.x)
      if it.o == 1 and redis.call('HGET', W, 'owner:' .. job) == '' then
        if it.g == 1 then redis.call('HSET', W, 's:' .. job, it.s, 'u:' .. job, it.u) end
        out[#out + 1] = {'claimed', take(job, lease)}
      else
        out[#out + 1] = {'follow'}
      end
    else
      redis.call('HSET', W, 's:' .. job, it.s, 'u:' .. job, it.u, 'owner:' .. job, '',
                 'holds:' .. job, it.h)
      hold_until(job, it.x)
      if it.g == 1 and it.o ~= 1 then
        redis.call('ZADD', DUE, now + it.w, job)
        out[#out + 1] = {'new'}
      else
        redis.call('ZADD', DUE, now, job)
        if it.o == 1 or free > 0 then
          free = free - 1
          out[#out + 1] = {'claimed', take(job, lease)}
        else
          work = true
          out[#out + 1] = {'new'}
        end
      end
    end
  elseif a == 'dl' then
    -- A holder of this replica waits longer than the others here did (it.x, as for add).
    if watched(job) then hold_until(job, it.x) end
    out[#out + 1] = 'ok'
  elseif a == 'rec' then
    -- An event delivered here: compare-and-set the delivered status, then tell the fleet.
    -- Whoever owns the watch now: a status that moves on from the one expected is
    -- delivered, wherever the callbacks ran (an update queued through an outage counts).
    if not watched(job) then
      out[#out + 1] = 'gone'
    else
      local subs, cur = nil, nil
      if it.b == '' then
        cur = redis.call('HGET', W, 's:' .. job)
      else
        subs = cjson.decode(redis.call('HGET', W, 'u:' .. job))
        cur = subs[it.b] or ''
      end
      if cur == it.s then
        out[#out + 1] = 'dup'
      elseif cur ~= it.p then
        out[#out + 1] = 'conflict'
      else
        if subs then
          subs[it.b] = it.s
          redis.call('HSET', W, 'u:' .. job, cjson.encode(subs))
        else
          redis.call('HSET', W, 's:' .. job, it.s)
        end
        redis.call('XADD', EVENTS, 'MAXLEN', '~', EVENTS_LENGTH, '*', 'm', it.m)
        out[#out + 1] = 'ok'
      end
    end
  elseif a == 'end' then
    -- The watch ended on its owner (the job ended, or it gave up): keep how, tell all.
    -- A job's end (it.f) is a fact wherever it was seen; giving up counts only for the
    -- owner, or for a watch nobody owns (re-added after Redis lost its data, or not).
    local owner = redis.call('HGET', W, 'owner:' .. job)
    if it.f ~= 1 and owner and owner ~= '' and owner ~= rid then
      out[#out + 1] = 'conflict'
    else
      drop(job)
      redis.call('HSET', ENDED, job, it.t)
      redis.call('ZADD', KEPT, now + keep * 1000, job)
      tell(it.m)
      out[#out + 1] = 'ok'
    end
  elseif a == 'rel' then
    -- No caller of this replica holds it any more; with nobody's hold left, it ends.
    if not watched(job) then
      out[#out + 1] = 'gone'
    elseif redis.call('HINCRBY', W, 'holds:' .. job, -1) <= 0 then
      drop(job)
      tell(it.m)
      out[#out + 1] = 'dropped'
    else
      if redis.call('HGET', W, 'owner:' .. job) == rid then
        redis.call('HSET', W, 'owner:' .. job, '')
        disown(rid, job)
        redis.call('ZADD', DUE, now + it.d, job)
        work = true
      end
      out[#out + 1] = 'ok'
    end
  elseif a == 'back' then
    -- This replica stops polling it (it shed its surplus, or it closes): due in it.d us.
    if redis.call('HGET', W, 'owner:' .. job) == rid then
      redis.call('HSET', W, 'owner:' .. job, '')
      disown(rid, job)
      redis.call('ZADD', DUE, now + it.d, job)
      work = true
    end
    out[#out + 1] = 'ok'
  elseif a == 'learn' then
    -- Durations of ended jobs a replica learned (JSON: kind -> seconds): the fleet keeps
    -- the 200 most recent of each kind, for replicas that start cold.
    for kind, seen in pairs(cjson.decode(it.m)) do
      local all = cjson.decode(redis.call('HGET', LEARNED, kind) or '[]')
      for _, d in ipairs(seen) do all[#all + 1] = d end
      local kept = {}
      for i = math.max(#all - 199, 1), #all do kept[#kept + 1] = all[i] end
      if #kept > 0 then redis.call('HSET', LEARNED, kind, cjson.encode(kept)) end
    end
    out[#out + 1] = 'ok'
  elseif a == 'pub' then
    tell(it.m)
    out[#out + 1] = 'ok'
  elseif a == 'bye' then
    redis.call('ZREM', REPLICAS, rid)
    redis.call('HDEL', SHARE, rid)
    out[#out + 1] = 'ok'
  end
end
if work then tell('{"k":"work"}') end
return {'ok', out}
