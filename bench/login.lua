-- POST /v1/token (JSON) rotating over existing users with the right password.
--   wrk ... -s bench/login.lua http://HOST:PORT -- EMAILS_FILE PASSWORD [WRK_THREADS]
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")

local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

local reqs, n, i = {}, 0, 0
function init(args)
  local path, pw, nthreads = args[1], args[2], tonumber(args[3] or "1")
  local f = assert(io.open(path, "r"), "cannot open emails file " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then
      n = n + 1
      local body = string.format('{"email":"%s","password":"%s"}', line, pw)
      reqs[n] = wrk.format("POST", "/v1/token", { ["Host"] = wrk.headers["Host"],
        ["Content-Type"] = "application/json", ["Accept"] = "application/json" }, body)
    end
  end
  f:close()
  assert(n > 0, "no emails")
  i = math.floor((tid or 0) * n / nthreads) % n
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
