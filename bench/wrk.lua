-- Distinct signed requests for wrk: `wrk -s bench/wrk.lua URL -- FILE KIND`.
-- FILE holds one pre-signed request a line: "signature<TAB>body" for webhooks (the signature covers
-- the body only, so each request gets its own delivery id here), or
-- "timestamp<TAB>signature<TAB>body" for Slack commands.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  file, kind = args[1], args[2]
  lines = {}
  for line in io.lines(file) do
    table.insert(lines, line)
  end
end

local function split(line)
  local parts = {}
  for part in string.gmatch(line, "[^\t]+") do
    table.insert(parts, part)
  end
  return parts
end

function request()
  counter = counter + 1
  local p = split(lines[(counter % #lines) + 1])
  if kind == "webhook" then
    return wrk.format("POST", "/webhooks", {
      ["content-type"] = "application/json",
      ["dyte-signature"] = p[1],
      ["dyte-uuid"] = string.format("wrk-%d-%d-%d", id, counter, math.random(1, 1000000000)),
    }, p[2])
  end
  return wrk.format("POST", "/slack/events", {
    ["content-type"] = "application/x-www-form-urlencoded",
    ["x-slack-request-timestamp"] = p[1],
    ["x-slack-signature"] = p[2],
  }, p[3])
end
