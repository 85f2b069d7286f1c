-- Batches of 100 CloudEvents, each event's id unique (TOLLBOOTH_RUN tells runs apart): POST /v1/events.
-- Counts the requests answered 202, so the script can compare them with what was stored.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOLLBOOTH_TOKEN")
wrk.headers["Content-Type"] = "application/cloudevents-batch+json"
local time = os.getenv("TOLLBOOTH_EVENT_TIME")
local run = os.getenv("TOLLBOOTH_RUN") or "run"
local threads = {}
id, n, accepted, other = 0, 0, 0, 0

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

request = function()
  n = n + 1
  local events = {}
  for i = 1, 100 do
    events[i] = string.format(
      '{"specversion":"1.0","id":"%s-%d-%d-%d","source":"wrk","type":"api.request","subject":"c%05d","time":"%s","data":{}}',
      run, id, n, i, (n * 100 + i) % 1000, time)
  end
  return wrk.format(nil, "/v1/events", nil, "[" .. table.concat(events, ",") .. "]")
end

response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_accepted, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("answered 202: %d requests (%d events), other: %d\n", total_accepted, total_accepted * 100, total_other))
end
