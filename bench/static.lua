-- Plain GET of the URL (wrk's fast path: no request() hook); only reports.
local dir = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
dofile(dir .. "report.lua")
