-- wrk script: POSTs the file $BENCH_BODY as application/json; with
-- $BENCH_DELAY_MS, each connection waits that long between requests (a
-- paced load). At the end prints one line the harness reads:
--   BENCH requests=N seconds=S non2xx=N sockerr=N p50_us=N p99_us=N max_us=N
-- non2xx counts every answer with a status of 400 or more (wrk's own
-- "Non-2xx or 3xx responses"); sockerr adds up connect, read, write and
-- timeout errors.

local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause ~= nil and pause > 0 then
	function delay()
		return pause
	end
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH requests=%d seconds=%.3f non2xx=%d " ..
	    "sockerr=%d p50_us=%d p99_us=%d max_us=%d\n",
	    summary.requests, summary.duration / 1e6, e.status,
	    e.connect + e.read + e.write + e.timeout,
	    latency:percentile(50), latency:percentile(99), latency.max))
end
