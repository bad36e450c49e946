-- POST /v1/token/refresh, each request with a fresh single-use refresh token.
--   [BENCH_ADDRS="HOST:PORT HOST:PORT"] wrk -tT ... -s bench/refresh.lua http://HOST:PORT -- TOKENS_FILE T
-- TOKENS_FILE: one pair "ACCESS_TOKEN REFRESH_TOKEN" (or a refresh token alone) per line, each
-- from its own login (bench/mint.lua). Thread t of T takes the lines t+1, t+1+T, ... as the
-- start of its queue. Every request takes the queue's head; every 200 answer's new refresh
-- token (the rotation's output, never seen before) joins the tail. So each token is presented
-- exactly once — the list's first, then the tokens the answers handed out — and a run of any
-- length needs only a list longer than the connections (a login per token is ~3x slower than
-- a refresh: pre-minting a list for a whole run would take longer than the run). A thread
-- whose queue is empty (more failures than its list's surplus) stops (exhausted=1: the run's
-- duration is then wrong). With BENCH_ADDRS set, thread t talks to instance t mod n
-- (bench/spread.lua), and its tokens stay on that instance.
-- The RESULT line adds ok= (200: rotated), s401= (401: refused: a reuse or an unknown token),
-- sother= (any other status), listed= / chained= (tokens sent from the list / from answers),
-- exhausted=, and per thread okT= (rotations answered by thread T's instance).
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")
dofile(dir .. "spread.lua")
local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
  spread(thread)
end

local queue, head, tail, nlist, stopped, hdrs = {}, 1, 0, 0, false, nil
ok, s401, sother, listed, chained, exhausted = 0, 0, 0, 0, 0, 0 -- read by done() (thread:get)

function init(args)
  local path, nthreads = args[1], tonumber(args[2] or "1")
  assert(path, "usage: -- TOKENS_FILE [WRK_THREADS]")
  local t, k = tid or 0, 0
  for line in assert(io.open(path, "r"), "cannot open " .. path):lines() do
    -- anchored patterns: an unanchored one retries at every offset of the long access token
    local rt = line:match("^%S+%s+(%S+)") or line:match("^(%S+)%s*$")
    if rt then
      if k % nthreads == t then
        tail = tail + 1
        queue[tail] = rt
      end
      k = k + 1
    end
  end
  nlist = tail
  assert(nlist > 0, "no refresh tokens for thread " .. t)
  hdrs = { ["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json",
    ["Accept"] = "application/json" }
end

function request()
  if head <= tail then
    local rt = queue[head]
    queue[head] = nil
    if head <= nlist then listed = listed + 1 else chained = chained + 1 end
    head = head + 1
    return wrk.format("POST", "/v1/token/refresh", hdrs, '{"refresh_token":"' .. rt .. '"}')
  end
  if not stopped then
    stopped = true
    exhausted = 1
    wrk.thread:stop()
  end
  return wrk.format("GET", "/healthz", hdrs) -- never a token twice
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if rt then
      tail = tail + 1
      queue[tail] = rt
    end
  elseif status == 401 then s401 = s401 + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local sum = { ok = 0, s401 = 0, sother = 0, listed = 0, chained = 0, exhausted = 0 }
  local per = ""
  for k, t in ipairs(threads) do
    for name, _ in pairs(sum) do
      local v = t:get(name) or 0
      sum[name] = name == "exhausted" and math.max(sum[name], v) or sum[name] + v
    end
    per = per .. string.format(" ok%d=%d", k - 1, t:get("ok") or 0)
  end
  io.write(result_line(summary, latency),
    string.format(" ok=%d s401=%d sother=%d listed=%d chained=%d exhausted=%d%s\n", sum.ok,
      sum.s401, sum.sother, sum.listed, sum.chained, sum.exhausted, per))
end
