-- BulkGate bulk delivery confirmations: a JSON array of 100 items, unique smsIDs per request. The
-- items of one request share their send/delivery minutes (one push of what arrived in that minute);
-- the minutes move on with every request.
local ITEMS = 100
local before = '{"status":"1","smsID":"B'
local after = '","to":"420777777777","price":"0.71","date":"%s","channel":"sms"}'
workload = {
  path = "/hooks/bulkgate",
  content_type = "application/json",
  events = ITEMS,
  body = function(tid, n)
    local parts = {}
    local prefix = before .. tid .. "N" .. n .. "I"
    local minute = (n * 7 + tid) % 1440
    local date = string.format("240501%02d%02d;240501%02d%02d", math.floor(minute / 60), minute % 60,
      math.floor(minute / 60), minute % 60)
    local suffix = string.format(after, date)
    for i = 1, ITEMS do
      parts[i] = prefix .. i .. suffix
    end
    return "[" .. table.concat(parts, ",") .. "]", false
  end,
}
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "harness.lua")
