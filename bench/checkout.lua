-- wrk script for scripts/bench: the real request (bearer token + JSON body), non-2xx count, and one
-- machine-readable summary line. Settings come from the environment:
--   BENCH_TOKEN  the bearer token (scripts/dev-token)    BENCH_BODY  the JSON body
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
    first_bad = ""
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 120) end
    end
end

function done(summary, latency, requests)
    local bad, sample = 0, ""
    for _, thread in ipairs(threads) do
        bad = bad + (thread:get("non2xx") or 0)
        local s = thread:get("first_bad") or ""
        if sample == "" then sample = s end
    end
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non2xx=%d sock_errors=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.max, bad,
        e.connect + e.read + e.write + e.timeout))
    if sample ~= "" then io.write("BENCH_FIRST_BAD " .. sample:gsub("\n", " ") .. "\n") end
end
