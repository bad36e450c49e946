-- spread(thread): for a wrk setup(), point thread number k at the (k mod n)-th address of
-- BENCH_ADDRS="HOST:PORT HOST:PORT ..." instead of the URL's host, so that one wrk spreads its
-- threads (and their connections) over several instances; the Host header stays the URL's.
-- Without BENCH_ADDRS it does nothing. An environment variable because wrk hands the script's
-- arguments to each thread's init() only, never to setup(). Loaded with dofile().
-- spread_n: how many instances the threads are spread over (1 without BENCH_ADDRS), once
-- spread() has run.
local spread_addrs, spread_next = nil, 0
spread_n = 1
function spread(thread)
  if spread_addrs == nil then
    spread_addrs = {}
    for hp in (os.getenv("BENCH_ADDRS") or ""):gmatch("%S+") do
      local h, p = hp:match("^(.*):(%d+)$")
      local a = h and wrk.lookup(h, p)
      assert(a and a[1], "BENCH_ADDRS: cannot resolve " .. hp)
      table.insert(spread_addrs, a[1])
    end
  end
  spread_n = math.max(1, #spread_addrs)
  if #spread_addrs > 0 then
    thread.addr = spread_addrs[(spread_next % #spread_addrs) + 1]
  end
  spread_next = spread_next + 1
end
