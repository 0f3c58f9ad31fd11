-- Webcom XML status document of 50 <state> elements, unique (numeric) id_sms per state; the states
-- of one document share their time, which moves on with every request.
local STATES = 50
local after = '" time="2024-05-01 %02d:%02d:%02d" sms="deliver">deliver</state>'
workload = {
  path = "/hooks/webcom",
  content_type = "text/xml; charset=utf-8",
  events = STATES,
  body = function(tid, n)
    local parts = { '<?xml version="1.0" encoding="utf-8" ?>\n<response>' }
    local prefix = string.format('<state id_sms="%d%09d', tid, n)
    local second = (n * 7 + tid) % 86400
    local suffix = string.format(after, math.floor(second / 3600), math.floor(second / 60) % 60, second % 60)
    for i = 1, STATES do
      parts[i + 1] = prefix .. string.format("%02d", i) .. suffix
    end
    parts[STATES + 2] = "</response>"
    return table.concat(parts, "\n"), false
  end,
}
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "harness.lua")
