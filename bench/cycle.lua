-- wrk script for scripts/bench: POSTs that cycle through a file of pre-made requests, so that each request is
-- new to the server (a new user for checkout, a new event id for the webhook). One request per line:
--   <header value>            the body is BENCH_BODY (checkout: one bearer token per line)
--   <header value>\t<body>    the body is the rest of the line (webhook: signature, then the event)
-- Arguments (after wrk's `--`): FILE HEADER-NAME FIRST-INDEX THREADS. Thread i of T takes lines
-- FIRST+i, FIRST+i+T, FIRST+i+2T, … (0-based), so the threads never share a line; the summary line reports
-- next_index (the first line no thread used, for the next run) and wrapped=1 when the file ran out and lines
-- were used again. Same non-2xx count and summary line as bench/checkout.lua.
local threads = {}
local counter = 0

function setup(thread)
    thread:set("tid", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
    first_bad = ""
    sent = 0
    local file, header = args[1], args[2]
    first, nthreads = tonumber(args[3] or "0"), tonumber(args[4] or "1")
    local body = os.getenv("BENCH_BODY") or ""
    lines = {}
    for line in io.lines(file) do
        local tab = string.find(line, "\t", 1, true)
        if tab then
            lines[#lines + 1] = {string.sub(line, 1, tab - 1), string.sub(line, tab + 1)}
        else
            lines[#lines + 1] = {line, body}
        end
    end
    count = #lines
    headers = {["Content-Type"] = "application/json"}
    name = header
end

function request()
    local index = (first + tid + nthreads * sent) % count
    sent = sent + 1
    local entry = lines[index + 1]
    headers[name] = entry[1]
    return wrk.format("POST", nil, headers, entry[2])
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if first_bad == "" then first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 120) end
    end
end

function done(summary, latency, requests)
    local bad, sample, most, start, total, n = 0, "", 0, 0, 1, 1
    for _, thread in ipairs(threads) do
        bad = bad + (thread:get("non2xx") or 0)
        local s = thread:get("first_bad") or ""
        if sample == "" then sample = s end
        most = math.max(most, thread:get("sent") or 0)
        start, total, n = thread:get("first") or 0, thread:get("count") or 1, thread:get("nthreads") or 1
    end
    local next_index = start + n * most
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non2xx=%d sock_errors=%d " ..
        "next_index=%d lines=%d wrapped=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.max, bad,
        e.connect + e.read + e.write + e.timeout, next_index, total, next_index > total and 1 or 0))
    if sample ~= "" then io.write("BENCH_FIRST_BAD " .. sample:gsub("\n", " ") .. "\n") end
end
