-- Shared wrk harness: loaded (dofile) by each workload script after it defined `workload`:
--
--   workload = {
--     path = "/hooks/csoft", content_type = "...", events = 1,
--     body = function(tid, n) return body, is_duplicate end,   -- n = 1, 2, ... per wrk thread
--   }
--
-- Arguments after `--` on the wrk command line:  <seconds>
--
-- Exact accounting. wrk drops the requests still in flight when its -d time is up, and a server may
-- have stored those without wrk ever seeing the answer, so stored and acknowledged could differ by up
-- to one request per connection. To make the check exact, each thread sends requests for <seconds>
-- (by its own monotonic clock); after that, delay() holds every connection back (it never sends
-- again) and the thread stops as soon as every request it sent has been answered. wrk's -d must be a
-- little longer (the runner adds a grace period). Every request wrk counts is a real one: the
-- latency histogram holds nothing else.
--
-- done() prints one line, "BENCH-JSON {...}", with the counts, the sending phase's own duration
-- (first request sent to last answer received: rates use it, not wrk's -d), and the latency
-- percentiles (p99.9 from latency:percentile(99.9)).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  seconds = tonumber(args[1] or "10")
  local host = wrk.headers["Host"] or (wrk.host .. ":" .. tostring(wrk.port))
  head = "POST " .. workload.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nContent-Type: " ..
      workload.content_type .. "\r\nContent-Length: "
  sent, duplicates, answered, ok, bad = 0, 0, 0, 0, 0
  statuses = {}
  t_first, t_last, deadline = 0, 0, nil
  draining = false
  -- wrk calls request() once on the first thread before it runs, to count pipelined requests:
  -- that call sends nothing and must not count.
  verifying = (tid == 1)
end

local HOLD_MS = 3600 * 1000

function delay()
  if draining then
    return HOLD_MS
  end
  if deadline ~= nil and now() >= deadline then
    draining = true
    if answered >= sent then
      wrk.thread:stop()
    end
    return HOLD_MS
  end
  return 0
end

function request()
  if verifying then
    verifying = false
    return head .. "0\r\n\r\n"
  end
  local t = now()
  if deadline == nil then
    t_first = t
    deadline = t + seconds
  end
  sent = sent + 1
  local body, dup = workload.body(tid, sent)
  if dup then duplicates = duplicates + 1 end
  return head .. #body .. "\r\n\r\n" .. body
end

function response(status, headers, body)
  answered = answered + 1
  t_last = now()
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
  if draining and answered >= sent then
    wrk.thread:stop()
  end
end

local function json_value(v)
  if type(v) == "table" then
    local parts = {}
    for k, x in pairs(v) do
      parts[#parts + 1] = string.format("%q:%s", tostring(k), json_value(x))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return string.format("%q", v)
  elseif v == nil then
    return "null"
  end
  return string.format("%.17g", v)
end

function done(summary, latency, requests)
  local out = {
    sent = 0, duplicates = 0, answered = 0, ok = 0, bad = 0, statuses = {},
    completed = summary.requests, wrk_duration_us = summary.duration,
    errors = summary.errors,
    latency_us = {
      p50 = latency:percentile(50), p90 = latency:percentile(90), p99 = latency:percentile(99),
      p999 = latency:percentile(99.9), max = latency.max, mean = latency.mean,
    },
    threads = #threads, events_per_request = workload.events,
  }
  local first, last = nil, nil
  for _, thread in ipairs(threads) do
    for _, name in ipairs({ "sent", "duplicates", "answered", "ok", "bad" }) do
      out[name] = out[name] + (thread:get(name) or 0)
    end
    for code, count in pairs(thread:get("statuses") or {}) do
      out.statuses[code] = (out.statuses[code] or 0) + count
    end
    local f, l = thread:get("t_first"), thread:get("t_last")
    if f and f > 0 and (first == nil or f < first) then first = f end
    if l and l > 0 and (last == nil or l > last) then last = l end
  end
  out.phase_seconds = (first and last) and (last - first) or 0
  io.write("BENCH-JSON " .. json_value(out) .. "\n")
end
