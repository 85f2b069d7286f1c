-- Non-consuming checks for 1,000 subjects in turn: POST /v1/check.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOLLBOOTH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/check", nil, string.format('{"subject":"c%05d","feature":"api_requests"}', n % 1000))
end
