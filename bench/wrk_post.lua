-- wrk script: POST the same VCP JSON body the benchmark delivers, each request with its own
-- webhook-id (as `voicelens deliver` sends one), so the sink does the same work per request.
-- The body file is named by the WRK_BODY environment variable.
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()

-- wrk.format replaces wrk.headers with the table it is given, so that table carries both.
local headers = { ["Content-Type"] = "application/json" }
local counter = 0
local prefix = tostring(math.random(1, 1e9))

request = function()
  counter = counter + 1
  headers["webhook-id"] = "msg_wrk_" .. prefix .. "_" .. counter
  return wrk.format(nil, nil, headers)
end

done = function(summary, latency, requests)
  io.write(string.format("WRK_RESULT requests=%d non2xx=%d seconds=%.3f\n",
    summary.requests, summary.errors.status, summary.duration / 1e6))
end
