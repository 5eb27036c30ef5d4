-- shopnet's wrk workloads.
--
--   wrk ... -s workloads.lua URL -- WORKLOAD PREFIX FIRST_ID LAST_ID RATE RUN_ID
--
-- WORKLOAD  product_hit | product_miss | product_list | order_create | order_limited | mix
--           order_limited: one unit per order of products FIRST_ID..LAST_ID, which the
--           runner first gives a small stock (PATCH {"stock": K}); once it is gone every
--           order is a 409 insufficient_stock. done() reports them as "conflicts" (and
--           "created"), so a run shows the stock was never oversold: created <= the stock
--           given, and the product's stock afterwards is given - created.
-- PREFIX    "/api" through a gateway, "" straight at a product instance
-- RATE      0: closed loop (wrk's usual: every connection sends as soon as it can).
--           R > 0: open loop at R requests/s per wrk thread. Each request gets a scheduled
--           send time; its latency is measured from that time, not from when it was
--           actually sent, so a stalled server is charged for the requests it held
--           back (coordinated omission corrected, as wrk2 does). The scheduled time
--           travels in X-Request-ID, which our services and nginx echo back.
--
-- SHOPNET_WRK_TOKEN_FILE (environment): a file with the token every request carries.
--
-- done() prints one line "SHOPNET_WRK_JSON {...}" that shopnet parses.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } shopnet_timespec;
  int clock_gettime(int clk_id, shopnet_timespec *tp);
]]
local clock_buf = ffi.new("shopnet_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock_buf) -- CLOCK_MONOTONIC
  return tonumber(clock_buf.tv_sec) * 1000000 + tonumber(clock_buf.tv_nsec) / 1000
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
local workload, prefix, first_id, last_id, rate, run_id
local authorization    -- "Bearer <token>" or nil
local counter = 0
local interval_us, next_send_us
local scheduled = {}   -- FIFO of scheduled send times, one per request about to be sent
local sched_head, sched_tail = 1, 0
latencies = {}         -- corrected latencies in µs (paced runs only), read by done()
x_cache = { HIT = 0, MISS = 0 }
statuses = {}

-- Paced runs only: wrk routes every request through a timer once `delay` exists,
-- and parses every response's headers once `response` exists; closed-loop runs of
-- the hot path must not pay for either, so init() installs them on demand.
local function paced_delay()
  local at = next_send_us
  next_send_us = next_send_us + interval_us
  sched_tail = sched_tail + 1
  scheduled[sched_tail] = at
  local wait_ms = (at - now_us()) / 1000
  if wait_ms <= 0 then return 0 end
  -- wrk timers take whole milliseconds: round down, and request() measures a request
  -- that goes out early from when it was sent.
  return math.floor(wait_ms)
end

local function record_response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local cache = headers["X-Cache"]
  if cache then x_cache[cache] = (x_cache[cache] or 0) + 1 end
  if rate > 0 then
  local rid = headers["X-Request-ID"] or headers["x-request-id"]
  if rid and string.sub(rid, 1, 1) == "t" then
    local at = tonumber(string.sub(rid, 2))
    if at then latencies[#latencies + 1] = now_us() - at end
  end
  end
end

function init(args)
  workload = args[1] or "product_hit"
  prefix = args[2] or "/api"
  if prefix == "-" then prefix = "" end
  first_id = tonumber(args[3] or 1)
  last_id = tonumber(args[4] or 1000)
  rate = tonumber(args[5] or 0)
  run_id = args[6] or "run"
  -- The admin token (not rate-limited) from the file SHOPNET_WRK_TOKEN_FILE names, if any.
  local token_path = os.getenv("SHOPNET_WRK_TOKEN_FILE")
  if token_path and token_path ~= "" then
  local file = assert(io.open(token_path, "r"))
  authorization = "Bearer " .. file:read("*l")
  file:close()
  -- wrk.format uses wrk.headers only for requests given no headers of their own.
  wrk.headers["Authorization"] = authorization
  end
  math.randomseed(thread_id * 7919 + 17)
  if rate > 0 then
  interval_us = 1000000 / rate
  next_send_us = now_us()
  delay = paced_delay
  end
  if rate > 0 or workload == "product_miss" or workload == "mix" or workload:find("^order_") then
  response = record_response
  end
end

local function random_id()
  return math.random(first_id, last_id)
end

local function product_get(id)
  return wrk.format("GET", prefix .. "/products/" .. id)
end

local function product_list()
  return wrk.format("GET", prefix .. "/products?page=" .. math.random(1, 50) .. "&page_size=20")
end

local function order_create()
  local body = '{"customer_id":"bench-' .. thread_id .. '","items":[{"product_id":'
  .. random_id() .. ',"quantity":' .. math.random(1, 3) .. '}]}'
  local headers = {
  ["Content-Type"] = "application/json",
  ["Idempotency-Key"] = run_id .. "-" .. thread_id .. "-" .. counter,
  ["Authorization"] = authorization,
  }
  return wrk.format("POST", prefix .. "/orders", headers, body)
end

-- One unit of one of the limited products, each order with its own quoted key (an RFC 8941
-- sf-string, as draft-ietf-httpapi-idempotency-key-header writes it).
-- The customer is the run's own (RUN_ID-THREAD), so the runner can count the orders
-- stored, including those wrk cut off mid-flight when the run ended.
local function order_limited()
  local body = '{"customer_id":"' .. run_id .. "-" .. thread_id .. '","items":[{"product_id":'
  .. random_id() .. ',"quantity":1}]}'
  local headers = {
  ["Content-Type"] = "application/json",
  ["Idempotency-Key"] = '"' .. run_id .. "-" .. thread_id .. "-" .. counter .. '"',
  ["Authorization"] = authorization,
  }
  return wrk.format("POST", prefix .. "/orders", headers, body)
end

local function next_request()
  if workload == "product_hit" then
  return product_get(first_id)
  elseif workload == "product_miss" then
  return product_get(random_id())
  elseif workload == "product_list" then
  return product_list()
  elseif workload == "order_create" then
  return order_create()
  elseif workload == "order_limited" then
  return order_limited()
  else -- mix: 80% product reads, 10% lists, 10% orders
  local roll = math.random(1, 10)
  if roll <= 8 then return product_get(random_id()) end
  if roll == 9 then return product_list() end
  return order_create()
  end
end

function request()
  counter = counter + 1
  local req = next_request()
  if rate > 0 then
  local at = nil
  if sched_head <= sched_tail then
    at = scheduled[sched_head]
    scheduled[sched_head] = nil
    sched_head = sched_head + 1
  end
  -- Never measure from a time the request was not yet due; a request that goes out
  -- late keeps its scheduled time, so the wait it suffered counts as latency.
  local sent = now_us()
  if at == nil or at > sent then at = sent end
  -- Insert X-Request-ID carrying the scheduled time right after the request line.
  local line_end = string.find(req, "\r\n", 1, true)
  req = string.sub(req, 1, line_end + 1) .. "X-Request-ID: t" .. string.format("%.0f", at)
    .. "\r\n" .. string.sub(req, line_end + 2)
  end
  return req
end

function done(summary, latency, requests)
  local corrected = {}
  local hits, misses = 0, 0
  local status_total = {}
  for _, thread in ipairs(threads) do
  for _, v in ipairs(thread:get("latencies")) do corrected[#corrected + 1] = v end
  local xc = thread:get("x_cache")
  hits = hits + (xc.HIT or 0)
  misses = misses + (xc.MISS or 0)
  for code, n in pairs(thread:get("statuses")) do
    status_total[code] = (status_total[code] or 0) + n
  end
  end
  table.sort(corrected)
  local function pct(p)
  if #corrected == 0 then return nil end
  local i = math.max(1, math.ceil(#corrected * p / 100))
  return corrected[i]
  end
  local parts = {}
  local function add(k, v) parts[#parts + 1] = '"' .. k .. '":' .. v end
  add("requests", summary.requests)
  add("duration_us", summary.duration)
  add("bytes", summary.bytes)
  add("errors", string.format('{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
  summary.errors.connect, summary.errors.read, summary.errors.write,
  summary.errors.status, summary.errors.timeout))
  add("latency_us", string.format(
  '{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}',
  latency.mean, latency.stdev, latency.max, latency:percentile(50),
  latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
  if #corrected > 0 then
  local sum = 0
  for _, v in ipairs(corrected) do sum = sum + v end
  add("corrected_latency_us", string.format(
    '{"count":%d,"mean":%.1f,"max":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}',
    #corrected, sum / #corrected, corrected[#corrected], pct(50), pct(90), pct(99), pct(99.9)))
  end
  add("x_cache", string.format('{"HIT":%d,"MISS":%d}', hits, misses))
  local codes = {}
  for code, n in pairs(status_total) do codes[#codes + 1] = '"' .. code .. '":' .. n end
  add("statuses", "{" .. table.concat(codes, ",") .. "}")
  -- Orders that were placed, and refused for want of stock (the order workloads, mix).
  add("created", status_total[201] or 0)
  add("conflicts", status_total[409] or 0)
  io.write("SHOPNET_WRK_JSON {" .. table.concat(parts, ",") .. "}\n")
end
