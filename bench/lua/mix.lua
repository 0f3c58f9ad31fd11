-- csoft receipts where every 10th request is a retry: a byte-identical repeat of the one sent 7
-- requests earlier by the same wrk thread (maybe still in flight, as real retries can be).
-- Unique events = requests - duplicates.
local function receipt(tid, n)
  return "Username=bench&PIN=NULL&SendTo=447700912345&Timestamp1=2024%2D05%2D01T12%3A00%3A00Z" ..
      "&MessageIdentifier=M" .. tid .. "N" .. n .. "&Report=0"
end
workload = {
  path = "/hooks/csoft",
  content_type = "application/x-www-form-urlencoded",
  events = 1,
  body = function(tid, n)
    if n % 10 == 0 then
      return receipt(tid, n - 7), true
    end
    return receipt(tid, n), false
  end,
}
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "harness.lua")
