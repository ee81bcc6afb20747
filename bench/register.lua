-- wrk script: durable single-ticket registrations, POST /v1/registrations, each request with its own
-- Idempotency-Key and its own synthetic pass (so UiTPAS's per-pass weekly limit never applies).
-- wrk -s bench/register.lua <url> -- <shop key> <run tag> <first pass index>
-- Prints "status <code> <count>" lines at the end (201 = registered, the only success counted).

local EVENT = "5a0967f9-cc06-4c3c-9206-30481a767434"
local TARIFF = "kansentarief-regio-gent"
-- Passes per thread: far more than one thread sends in a run.
local PER_THREAD = 1000000

local function luhn_complete(body)
  local sum = 0
  local len = #body
  for i = len, 1, -1 do
    local d = tonumber(body:sub(i, i))
    if (len - i) % 2 == 0 then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
  end
  return body .. tostring((10 - sum % 10) % 10)
end

local function pass_number(n)
  return luhn_complete(string.format("0999%07d0", n % 10000000))
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local key, tag, base
local sent = 0
statuses = {}

function init(args)
  key = args[1]
  tag = args[2] or "bench"
  base = tonumber(args[3] or "0") + (thread_id or 0) * PER_THREAD
end

function request()
  local n = base + sent
  local id = tag .. "-" .. (thread_id or 0) .. "-" .. sent
  sent = sent + 1
  local body = '{"orderId":"order-' .. id .. '","tickets":[{"eventId":"' .. EVENT .. '","uitpasNumber":"'
    .. pass_number(n) .. '","tariffId":"' .. TARIFF .. '","regularPrice":10}]}'
  return wrk.format("POST", "/v1/registrations", {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "key-" .. id,
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, count in pairs(s) do
      total[code] = (total[code] or 0) + count
    end
  end
  for code, count in pairs(total) do
    io.write(string.format("status %d %d\n", code, count))
  end
  io.write(string.format("errors connect %d read %d write %d status %d timeout %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
