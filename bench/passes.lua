-- wrk script: GET /v1/passes/{n} rotating over a set of synthetic passes, the same for every server
-- compared. wrk -s bench/passes.lua <url> -- <number of passes> <first pass index> [<bearer key>]
-- With a key, every request carries `Authorization: Bearer <key>` (the service's publishable key; a
-- server that does not use it ignores it). Each thread starts at another place in the set; the
-- requests are formatted once, in init.

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

-- The n-th synthetic pass: 0999, seven digits, an even 12th digit (ACTIVE), the check digit.
function pass_number(n)
  return luhn_complete(string.format("0999%07d0", n % 10000000))
end

local counter = 0

function setup(thread)
  -- a global of the thread's own Lua state, read in init
  thread:set("thread_id", counter)
  counter = counter + 1
end

local requests = {}
local next_index = 1

function init(args)
  local passes = tonumber(args[1] or "1000")
  local first = tonumber(args[2] or "0")
  local key = args[3]
  local headers = {}
  if key and key ~= "" then headers["Authorization"] = "Bearer " .. key end
  for i = 0, passes - 1 do
    requests[i + 1] = wrk.format("GET", "/v1/passes/" .. pass_number(first + i), headers)
  end
  next_index = ((thread_id or 0) * 997) % passes + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then next_index = 1 end
  return r
end
