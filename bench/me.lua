-- GET /v1/me rotating over distinct access tokens, one per request.
--   wrk ... -s bench/me.lua http://HOST:PORT -- TOKENS_FILE [WRK_THREADS]
-- Each wrk thread starts at a different offset (thread k of T starts at k*N/T) so that no
-- two threads walk the same token sequence in lockstep. Requests are pre-formatted in init()
-- so the per-request Lua cost is one table index.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")

local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local reqs, n, i = {}, 0, 0
function init(args)
  local path, nthreads = args[1], tonumber(args[2] or "1")
  local f = assert(io.open(path, "r"), "cannot open tokens file " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("GET", "/v1/me", { ["Host"] = wrk.headers["Host"],
        ["Authorization"] = "Bearer " .. line, ["Accept"] = "application/json" })
    end
  end
  f:close()
  assert(n > 0, "no tokens")
  i = math.floor((tid or 0) * n / nthreads) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
