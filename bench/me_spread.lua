-- bench/me.lua (GET /v1/me over distinct access tokens) with wrk's threads spread over the
-- instances of BENCH_ADDRS (bench/spread.lua: thread k talks to instance k mod n).
--   [BENCH_ADDRS="HOST:PORT HOST:PORT"] wrk -tT ... -s bench/me_spread.lua http://HOST:PORT -- TOKENS_FILE T [DONE_PREFIX]
-- With DONE_PREFIX, one pass: each instance is sent every token of the file exactly once — the
-- cold pass — then each thread stops and creates DONE_PREFIX.<thread>; the bench waits for
-- every thread's file and ends wrk with SIGINT (wrk would sleep out -d). Thread t starts at its
-- me.lua offset t*N/T and sends N*n/T tokens (n instances): with T = 2 threads on one instance,
-- each sends its half; on two instances, each sends all N to its own. The RESULT line adds
-- sentT= (requests sent by thread T, i.e. to instance T mod n).
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "me.lua")
dofile(dir .. "spread.lua")
local threads = {}
local me_setup, me_init, me_request = setup, init, request
function setup(thread)
  me_setup(thread)
  spread(thread)
  thread:set("ninst", spread_n)
  table.insert(threads, thread)
end

local once, count, done_file, stopped, last = false, 0, nil, false, nil
sent = 0 -- read by done() through thread:get()

function init(args)
  me_init(args)
  if args[3] then
    once = true
    local n, t, nthreads = 0, tid or 0, tonumber(args[2] or "1")
    for line in assert(io.open(args[1], "r")):lines() do
      if #line > 0 then n = n + 1 end
    end
    local m = n * (ninst or 1)
    count = math.floor((t + 1) * m / nthreads) - math.floor(t * m / nthreads)
    done_file = args[3] .. "." .. t
  end
end

function request()
  if once and sent >= count then
    if not stopped then
      stopped = true
      local f = io.open(done_file, "w")
      if f then f:write(sent, "\n"); f:close() end
      wrk.thread:stop()
    end
    return last -- a token this thread has already sent: no new first use
  end
  sent = sent + 1
  last = me_request()
  return last
end

function done(summary, latency, requests)
  local per = ""
  for k, t in ipairs(threads) do
    per = per .. string.format(" sent%d=%d", k - 1, t:get("sent") or 0)
  end
  io.write(result_line(summary, latency), per, "\n")
end
