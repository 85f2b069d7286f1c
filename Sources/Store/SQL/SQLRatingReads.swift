import Billing
import Foundation

/// Usage rows of some subscriptions with windows in `[from, to)`, read at once and aggregated as
/// `StoreUsage` does. A subscription not read, a period outside the range or a UNIQUE_COUNT
/// meter is read from the store.
struct PrefetchedUsage: UsageSource {
    /// Rows of (subscription, meter, window start, count, sum, min, max, latest time, latest value).
    let rows: [String: [Row]]
    let from: Instant
    let to: Instant
    let store: StoreUsage

    func quantity(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        guard meter.aggregation != .uniqueCount, period.start >= from, period.end <= to, let rows = rows[subscriptionId] else {
            return try store.aggregate(meter: meter, subscriptionId: subscriptionId, period: period)
        }
        let slug = meter.slug, start = period.start.seconds, end = period.end.seconds
        return StoreUsage.aggregate(meter.aggregation, rows: rows.filter { row in
            guard row.string(1) == slug, let window = row.int(2) else { return false }
            return window >= start && window < end
        }, from: 3)
    }
}

extension SQLRepositories {
    /// Keys per query of a group read (`IN (...)`, padded with NULLs so one statement serves).
    static var keysPerQuery: Int { 250 }

    /// The subscriptions, open items and usage (windows in `[usageFrom, usageTo)`) of `customerKeys`.
    public func ratingReads(customerKeys: [String], catalog: Catalog, usageFrom: Instant, usageTo: Instant) throws -> RatingReads {
        var plans: [String: Plan] = [:]
        for plan in catalog.plans { plans["\(plan.key)@\(plan.version)"] = plan }
        var subscriptions: [String: [SubscriptionRecord]] = [:]
        try forEachRow(keys: customerKeys, { """
            SELECT id, customer_key, plan_key, plan_version, anchor, start, "end", predecessor_id, successor_id
            FROM subscriptions WHERE customer_key IN \($0) ORDER BY start, created_at, id
            """ }) { row in
            let record = try subscriptionRecord(row, plans: plans)
            subscriptions[record.subscription.customerKey, default: []].append(record)
        }
        var open: Set<String> = []
        try forEachRow(keys: customerKeys, { """
            SELECT customer_key FROM carried_credits WHERE consumed_bill_date IS NULL AND customer_key IN \($0)
            UNION SELECT customer_key FROM adjustments WHERE invoice_id IS NULL AND customer_key IN \($0)
            UNION SELECT customer_key FROM rebilled_lines WHERE invoice_id IS NULL AND customer_key IN \($0)
            """ }, repeats: 3) { row in
            if let key = row.string(0) { open.insert(key) }
        }
        var usage: [String: [Row]] = [:]
        let subscriptionIds = subscriptions.values.flatMap { $0.map(\.id) }
        for id in subscriptionIds { usage[id] = [] }
        try forEachRow(keys: subscriptionIds, { """
            SELECT subscription_id, meter_slug, window_start, count, sum, min, max, latest_time, latest_value FROM usage_rows
            WHERE subscription_id IN \($0) AND window_start >= ? AND window_start < ?
            """ }, after: [usageFrom.sql, usageTo.sql]) { row in
            usage[row.string(0) ?? "", default: []].append(row)
        }
        return RatingReads(subscriptions: subscriptions, customersWithOpenItems: open,
                           usage: PrefetchedUsage(rows: usage, from: usageFrom, to: usageTo, store: StoreUsage(connection: connection)))
    }

    /// Runs a query whose `IN` list (`sql`'s argument, `repeats` times over) takes `keys`, a
    /// chunk at a time, with `after` bound after the lists.
    func forEachRow(keys: [String], _ sql: (String) -> String, repeats: Int = 1, after: [SQLValue] = [],
                    _ body: (Row) throws -> Void) throws {
        let list = "(" + Array(repeating: "?", count: Self.keysPerQuery).joined(separator: ", ") + ")"
        let text = sql(list)
        for start in stride(from: 0, to: keys.count, by: Self.keysPerQuery) {
            let chunk = keys[start..<min(keys.count, start + Self.keysPerQuery)]
            let values = chunk.map { SQLValue.text($0) } + Array(repeating: SQLValue.null, count: Self.keysPerQuery - chunk.count)
            for row in try connection.query(text, Array(Array(repeating: values, count: repeats).joined()) + after) { try body(row) }
        }
    }
}
