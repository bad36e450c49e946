-- Mint token pairs for the scale-out bench: POST /v1/token (JSON) for the emails of a file,
-- rotated, and write "ACCESS_TOKEN REFRESH_TOKEN" of every 200 answer to OUT_PREFIX.<thread>.
--   wrk ... -s bench/mint.lua http://HOST:PORT -- EMAILS_FILE PASSWORD COUNT OUT_PREFIX [WRK_THREADS]
-- Meant for a setup server (GATEHOUSE_TEST_INSECURE_FAST_HASH=1): each login is a new session
-- with one access and one refresh token. Thread t of T writes COUNT/T pairs, then closes its
-- file and creates OUT_PREFIX.<t>.done; the bench waits for every thread's file and ends wrk
-- with SIGINT (wrk would sleep out -d). Answers past COUNT are not written (their sessions
-- are simply never used). The RESULT line adds ok= (pairs written) and bad= (non-200 answers).
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")
local threads, next_tid = {}, 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local reqs, n, i, want, out, out_path, finished = {}, 0, 0, 0, nil, nil, false
ok, bad = 0, 0 -- globals: done() reads them through thread:get()

function init(args)
  local path, password, count, prefix = args[1], args[2], tonumber(args[3]), args[4]
  local nthreads = tonumber(args[5] or "1")
  assert(path and password and count and prefix,
    "usage: -- EMAILS_FILE PASSWORD COUNT OUT_PREFIX [WRK_THREADS]")
  local t = tid or 0
  want = math.floor((t + 1) * count / nthreads) - math.floor(t * count / nthreads)
  for line in assert(io.open(path, "r"), "cannot open " .. path):lines() do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", "/v1/token", { ["Host"] = wrk.headers["Host"],
        ["Content-Type"] = "application/json", ["Accept"] = "application/json" },
        string.format('{"email":"%s","password":"%s"}', line, password))
    end
  end
  assert(n > 0, "no emails")
  i = math.floor(t * n / nthreads) % n
  out_path = prefix .. "." .. t
  out = assert(io.open(out_path, "w"))
  out:setvbuf("full")
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

function response(status, headers, body)
  if finished then return end
  if status ~= 200 then bad = bad + 1; return end
  local at = body:match('"access_token"%s*:%s*"([^"]+)"')
  local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
  if not (at and rt) then bad = bad + 1; return end
  out:write(at, " ", rt, "\n")
  ok = ok + 1
  if ok >= want then
    finished = true
    out:close()
    local f = io.open(out_path .. ".done", "w")
    if f then f:write(ok, "\n"); f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local tok, tbad = 0, 0
  for _, t in ipairs(threads) do
    tok = tok + (t:get("ok") or 0)
    tbad = tbad + (t:get("bad") or 0)
  end
  io.write(result_line(summary, latency), string.format(" ok=%d bad=%d\n", tok, tbad))
end
