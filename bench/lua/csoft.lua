-- csoft delivery receipt: one form-encoded event per request, a unique MessageIdentifier each.
workload = {
  path = "/hooks/csoft",
  content_type = "application/x-www-form-urlencoded",
  events = 1,
  body = function(tid, n)
    return "Username=bench&PIN=NULL&SendTo=447700912345&Timestamp1=2024%2D05%2D01T12%3A00%3A00Z" ..
        "&MessageIdentifier=C" .. tid .. "N" .. n .. "&Report=0", false
  end,
}
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "harness.lua")
