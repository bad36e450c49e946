-- GET /v1/me at a steady pace: bench/me.lua, but each connection waits DELAY_MS between its
-- requests (wrk's delay() hook), so the offered load is about connections x 1000 / (DELAY_MS +
-- latency) requests a second instead of as many as the server can take. A latency target is
-- about a load the server is meant to carry, not one that saturates it.
--   wrk ... -s bench/me_paced.lua http://HOST:PORT -- TOKENS_FILE WRK_THREADS DELAY_MS
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "me.lua")

local delay_ms = 1
local me_init = init
function init(args)
  me_init(args)
  delay_ms = tonumber(args[3] or "1")
end

function delay()
  return delay_ms
end
