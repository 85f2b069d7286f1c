import Billing
import Foundation
import Metering
import Pipeline
import Store

/// Sets up the ingest and bill-run benchmark: a generated NDJSON file and a database with the
/// generator's meters, one plan, a customer per subject and a subscription each from the first
/// day. The timed work is then the real commands (`meter ingest`, `run`); see Benchmarks/run.sh.
public enum Benchmark {
    public static let planJSON = """
    {"meters": [
       {"slug": "api_requests", "name": "API requests", "eventType": "api.request", "aggregation": "COUNT"},
       {"slug": "llm_tokens", "name": "LLM tokens", "eventType": "llm.tokens", "aggregation": "SUM", "valueProperty": "$.tokens",
        "groupBy": {"model": "$.model"}},
       {"slug": "storage_gb", "name": "Storage", "eventType": "storage.gb", "aggregation": "MAX", "valueProperty": "$.gb"}],
     "features": [
       {"key": "api_requests", "name": "API requests", "meterSlug": "api_requests"},
       {"key": "llm_tokens", "name": "LLM tokens", "meterSlug": "llm_tokens"},
       {"key": "storage_gb", "name": "Storage", "meterSlug": "storage_gb"}],
     "plans": [{"key": "metered", "version": 1, "name": "Metered", "currency": "USD", "billingCadence": "P1M",
       "phases": [{"key": "default", "name": "Metered", "duration": null, "rateCards": [
         {"type": "flat_fee", "key": "base_fee", "name": "Platform fee", "billingCadence": "P1M",
          "price": {"type": "flat", "amount": "19.00"}},
         {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests", "billingCadence": "P1M",
          "price": {"type": "tiered", "mode": "graduated", "tiers": [
            {"upToAmount": "50", "unitPrice": {"type": "unit", "amount": "0"}},
            {"unitPrice": {"type": "unit", "amount": "0.01"}}]}},
         {"type": "usage_based", "key": "llm_tokens", "name": "LLM tokens", "featureKey": "llm_tokens", "billingCadence": "P1M",
          "price": {"type": "package", "amount": "0.50", "quantityPerPackage": 100000}},
         {"type": "usage_based", "key": "storage_gb", "name": "Storage", "featureKey": "storage_gb", "billingCadence": "P1M",
          "price": {"type": "unit", "amount": "0.02"}}]}]}]}
    """

    /// Writes `events.ndjson` and `bench.db` into `folder` (or the catalog, customers and
    /// subscriptions into the empty PostgreSQL database `postgres`); returns the instant to
    /// ingest at and the as-of of the bill run that bills the month.
    public static func prepare(folder: String, events: Int, subjects: Int, days: Int,
                               postgres: String? = nil) throws -> (ingestAt: Instant, asOf: Instant) {
        let start = Instant(year: 2026, month: 1, day: 1)
        let options = EventGenerator.Options(events: events, subjects: subjects, days: days, start: start)
        try EventGenerator(options).write(to: folder + "/events.ndjson")
        let store: any Store
        if let postgres {
            store = try PostgresStore(url: postgres)
        } else {
            let path = folder + "/bench.db"
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            store = try SQLiteStore(path: path)
        }
        _ = try store.importCatalog(try CatalogReader.read(Data(planJSON.utf8)), at: start)
        let customers = (0..<subjects).map { n -> Customer in
            let subject = "customer-" + String(repeating: "0", count: max(0, 5 - String(n).count)) + String(n)
            return Customer(key: "c\(n)", name: "Customer \(n)", currency: .usd, subjectKeys: [subject])
        }
        // A thousand customers to a transaction: PostgreSQL's change counter row takes a new
        // version at every statement that moves it, and one transaction's versions of one row
        // make each next update slower.
        for first in stride(from: 0, to: customers.count, by: 1_000) {
            let group = customers[first..<min(customers.count, first + 1_000)]
            _ = try store.importCustomers(Array(group), at: start)
            try store.transaction {
                for customer in group {
                    _ = try store.createSubscription(customerKey: customer.key, planKey: "metered", version: nil, anchor: nil,
                                                     start: start, now: start)
                }
            }
        }
        let end = Instant(seconds: start.seconds + Int64(days) * 86_400)
        return (end, ISODuration(months: 1).adding(times: 1, to: start) + 7200)
    }
}
