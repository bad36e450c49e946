-- GET /v1/me (no token: 401 is the expected answer) with a distinct X-Forwarded-For address per
-- request, for the rate limiter's memory under a flood of addresses.
--   wrk ... -s bench/xff.lua http://HOST:PORT -- START COUNT DONE_PREFIX [WRK_THREADS]
-- Address number k (START <= k < START + COUNT) is, for even k, the IPv4 address 10.0.0.0 + k/2
-- and, for odd k, the IPv6 address 2001:db8:X:Y::1 with X:Y = k/2 (so a distinct /64 each:
-- gatehouse keys IPv6 clients by /64). Thread t of T sends its own slice of the range, then
-- stops and creates DONE_PREFIX.t; the bench waits for every thread's file and ends wrk with
-- SIGINT (wrk itself would sleep out -d). The RESULT line adds sent= (distinct addresses sent),
-- s401=, s429=, sother= (statuses of the answers received).
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")
local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local k, last, finished, done_file, req = 0, 0, false, nil, nil
sent, s401, s429, sother = 0, 0, 0, 0 -- globals: done() reads them through thread:get()

local function addr(j)
  local h = math.floor(j / 2)
  if j % 2 == 0 then
    return string.format("10.%d.%d.%d", math.floor(h / 65536) % 256, math.floor(h / 256) % 256,
      h % 256)
  end
  return string.format("2001:db8:%x:%x::1", math.floor(h / 65536) % 65536, h % 65536)
end

function init(args)
  local start, count, nthreads = tonumber(args[1]), tonumber(args[2]), tonumber(args[4] or "1")
  local t = tid or 0
  k = start + math.floor(t * count / nthreads)
  last = start + math.floor((t + 1) * count / nthreads) -- exclusive
  done_file = args[3] .. "." .. t
  assert(count and count > 0, "usage: -- START COUNT DONE_PREFIX [WRK_THREADS]")
end

function request()
  if k < last then
    req = wrk.format("GET", "/v1/me", { ["Host"] = wrk.headers["Host"],
      ["Accept"] = "application/json", ["X-Forwarded-For"] = addr(k) })
    k = k + 1
    sent = sent + 1
  elseif not finished then
    finished = true
    local f = io.open(done_file, "w")
    if f then f:write(sent, "\n"); f:close() end
    wrk.thread:stop()
  end
  return req -- past the range: a repeat of the last request (no new address)
end

function response(status)
  if status == 401 then s401 = s401 + 1
  elseif status == 429 then s429 = s429 + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local sum = { sent = 0, s401 = 0, s429 = 0, sother = 0 }
  for _, t in ipairs(threads) do
    sum.sent = sum.sent + (t:get("sent") or 0)
    sum.s401 = sum.s401 + (t:get("s401") or 0)
    sum.s429 = sum.s429 + (t:get("s429") or 0)
    sum.sother = sum.sother + (t:get("sother") or 0)
  end
  io.write(string.format("%s sent=%d s401=%d s429=%d sother=%d\n", result_line(summary, latency),
    sum.sent, sum.s401, sum.s429, sum.sother))
end
