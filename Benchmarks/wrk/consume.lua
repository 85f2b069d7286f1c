-- Consuming checks, each with an idempotency key of its own: POST /v1/check with consume.
-- Counts the answers by status, so the script can compare them with what was stored.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOLLBOOTH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
local threads = {}
id, n, ok, other = 0, 0, 0, 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  n = n + 1
  return wrk.format(nil, "/v1/check", nil,
    string.format('{"subject":"c%05d","feature":"api_requests","consume":true,"idempotencyKey":"%s-%d-%d"}',
                  n % 1000, os.getenv("TOLLBOOTH_RUN") or "run", id, n))
end

response = function(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("answered 200: %d, other: %d\n", total_ok, total_other))
end
