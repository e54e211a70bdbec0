-- wrk script: POSTs the file $BENCH_BODY as application/json.
--
-- $BENCH_CONVERSATIONS (default 1): the requests cycle through that many
-- conversations, so that a server that keeps each conversation's events in
-- order can run different conversations side by side; the payload's
-- conversation id (89 in message_created_4k.json) is replaced by 1001,
-- 1002, ... The requests are built once, in init.
-- $BENCH_DELAY_MS: each connection waits that long between requests (a
-- paced load).
--
-- At the end prints one line the harness reads:
--   BENCH requests=N seconds=S non2xx=N sockerr=N p50_us=N p99_us=N max_us=N
-- non2xx counts every answer with a status of 400 or more (wrk's own
-- "Non-2xx or 3xx responses"); sockerr adds up connect, read, write and
-- timeout errors.

local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local convs = tonumber(os.getenv("BENCH_CONVERSATIONS") or "") or 1
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "") or 0
local reqs, n = {}, 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = body

function init(args)
	for i = 1, convs do
		local b = body
		if convs > 1 then
			local id = tostring(1000 + i)
			b = b:gsub('"id":89,', '"id":' .. id .. ',', 1)
			b = b:gsub('"conversation_id":89', '"conversation_id":' .. id)
		end
		reqs[i] = wrk.format(nil, nil, nil, b)
	end
end

function request()
	n = n + 1
	return reqs[n % convs + 1]
end

if pause > 0 then
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
