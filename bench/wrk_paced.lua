-- wrk script for bench/credit_lookup.py and the paced run of bench/claims_http.py: each connection sends the
-- requests listed in a file (method, path, header lines separated by "|", body; tab-separated), in turn, waiting
-- `delay` ms after each answer, so that connections x (1000 / (delay + latency)) requests a second arrive: a
-- steady rate, not a flood.
-- It is wrk_requests.lua with delay(): wrk paces every request of a script that defines delay() at all, so the
-- unpaced benchmarks keep a script without it.
local requests = {}
local next_index = 1
local pause = 0

function init(args)
  pause = tonumber(args[2])
  for line in io.lines(args[1]) do
    local method, path, headers, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
    local h = {}
    for pair in headers:gmatch("[^|]+") do
      local name, value = pair:match("([^:]+):%s*(.*)")
      h[name] = value
    end
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(method, path, h, body)
  end
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function delay()
  return pause
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
