import Billing
import Foundation

extension StoreUsage {
    /// The meter's usage per UTC day over the segments whose window starts inside `period`,
    /// one entry for every day the period touches (0 where nothing was used). Segment windows
    /// are cut at UTC midnight, so each day is exact: COUNT and SUM by the day's count and sum,
    /// MIN, MAX, LATEST and AVG over the day's events, UNIQUE_COUNT the day's distinct values.
    func daily(meter: Meter, subscriptionId: String, period: Period) throws -> [DailyUsage] {
        guard period.end > period.start else { return [] }
        var values: [Int64: Decimal] = [:]
        if meter.aggregation == .uniqueCount {
            var distinct: [Int64: Set<String>] = [:]
            for row in try connection.query("""
                SELECT window_start, value FROM usage_unique_values
                WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ?
                """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql]) {
                guard let start = row.int(0), let value = row.string(1) else { continue }
                distinct[EventKeyBlock.day(of: start), default: []].insert(value)
            }
            values = distinct.mapValues { Decimal($0.count) }
        } else {
            let rows = try connection.query("""
                SELECT window_start, count, sum, min, max, latest_time, latest_value FROM usage_rows
                WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ? ORDER BY window_start
                """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql])
            var byDay: [Int64: [Row]] = [:]
            for row in rows {
                guard let start = row.int(0) else { continue }
                byDay[EventKeyBlock.day(of: start), default: []].append(row)
            }
            for (day, rows) in byDay { values[day] = StoreUsage.aggregate(meter.aggregation, rows: rows, from: 1) }
        }
        return DailyUsage.series(over: period, values: values)
    }
}

extension SQLRepositories {
    // MARK: Usage links

    /// The key that signs usage links (32 bytes). The first call stores `fresh` and returns it;
    /// every later call, from any process on the database, returns that same key.
    public func usageLinkKey(orStore fresh: [UInt8], at now: Instant) throws -> [UInt8] {
        try transaction {
            if let row = try connection.first("SELECT key FROM usage_link_keys WHERE id = 1"), case .blob(let key) = row[0] { return key }
            try connection.run("INSERT INTO usage_link_keys (id, key, created_at) VALUES (1, ?, ?)", [.blob(fresh), now.sql])
            return fresh
        }
    }
}
