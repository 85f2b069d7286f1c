"""Writes the server benchmark's inputs into a folder: a catalog with one metered feature
(api_requests, a hard quota far above what the benchmark sends), 1,000 customers (subjects
c00000 ... c00999), their subscriptions from the start of the month, and an NDJSON file of
events shaped like the HTTP batches' for the `meter ingest` peer."""
import json
import sys

folder, start, time, events = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
catalog = {
    "meters": [{"slug": "api_requests", "name": "API requests", "eventType": "api.request", "aggregation": "COUNT"}],
    "features": [{"key": "api_requests", "name": "API requests", "meterSlug": "api_requests"}],
    "plans": [{"key": "gateway", "version": 1, "name": "Gateway", "currency": "USD", "billingCadence": "P1M",
               "phases": [{"key": "default", "name": "Gateway", "duration": None, "rateCards": [
                   {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
                    "billingCadence": "P1M", "price": {"type": "unit", "amount": "0.0001"},
                    "entitlementTemplate": {"type": "metered", "issueAfterReset": 1000000000000, "isSoftLimit": False}}]}]}],
}
json.dump(catalog, open(f"{folder}/catalog.json", "w"))
customers = [{"key": f"c{n:05d}", "name": f"Customer {n}", "currency": "USD",
              "usageAttribution": {"subjectKeys": [f"c{n:05d}"]}} for n in range(1000)]
json.dump(customers, open(f"{folder}/customers.json", "w"))
json.dump([{"customer": c["key"], "plan": "gateway", "at": start} for c in customers], open(f"{folder}/subscriptions.json", "w"))
with open(f"{folder}/events.ndjson", "w") as out:
    for n in range(events):
        out.write('{"specversion":"1.0","id":"file-%d","source":"wrk","type":"api.request","subject":"c%05d","time":"%s","data":{}}\n'
                  % (n, n % 1000, time))
