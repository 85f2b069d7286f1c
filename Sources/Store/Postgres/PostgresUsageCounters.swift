import Billing
import Foundation

extension PostgresStore: SharedUsageCounters {
    public func take(_ units: Decimal, meter: Meter, subscriptionId: String, period: Period, hardLimit: Decimal?) throws -> QuotaTake {
        precondition(meter.addsUp, "a usage counter follows COUNT and SUM meters only")
        let key: [SQLValue] = [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql]
        // The second pass finds the counter the first one made.
        for _ in 0..<2 {
            // Under a hard limit, moved only while the usage is below it: a concurrent check on
            // another server waits for this row and then sees the units added.
            if let row = try session.first("""
                UPDATE usage_counters SET used = used + ?5::numeric
                WHERE subscription_id = ?1 AND meter_slug = ?2 AND period_start = ?3 AND period_end = ?4
                  AND (?6::numeric IS NULL OR used < ?6::numeric)
                RETURNING (used - ?5::numeric)::text
                """, key + [.text(units.plainString), SQLValue(hardLimit)]) {
                return .taken(before: row.decimal(0) ?? 0)
            }
            if let row = try session.first("""
                SELECT used::text FROM usage_counters WHERE subscription_id = ?1 AND meter_slug = ?2 AND period_start = ?3 AND period_end = ?4
                """, key) {
                return .refused(used: row.decimal(0) ?? 0)
            }
            let stored = try quantity(meter: meter, subscriptionId: subscriptionId, period: period)
            try session.run("""
                INSERT INTO usage_counters (subscription_id, meter_slug, period_start, period_end, aggregation, used)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6::numeric) ON CONFLICT DO NOTHING
                """, key + [.text(meter.aggregation.rawValue), .text(stored.plainString)])
        }
        throw DatabaseError(code: -1, message: "\(path): the usage counter of \(subscriptionId) \(meter.slug) could not be made", sql: nil)
    }

    @discardableResult
    public func giveBack(_ units: Decimal, meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        let row = try session.first("""
            UPDATE usage_counters SET used = used - ?5::numeric
            WHERE subscription_id = ?1 AND meter_slug = ?2 AND period_start = ?3 AND period_end = ?4
            RETURNING used::text
            """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql, .text(units.plainString)])
        return row?.decimal(0) ?? 0
    }

    @discardableResult
    public func forgetCounters(endedBefore end: Instant) throws -> Int {
        try session.run("DELETE FROM usage_counters WHERE period_end < ?", [end.sql])
    }

    /// Adds written usage to the counters whose periods hold its windows: a COUNT meter's by
    /// the events, a SUM meter's by their sum. Nothing to do, and one query, while no server
    /// counts.
    func countUsage(_ pieces: [SegmentPiece]) throws {
        guard !pieces.isEmpty, try session.first("SELECT 1 FROM usage_counters LIMIT 1", []) != nil else { return }
        for start in stride(from: 0, to: pieces.count, by: PostgresStore.rowsPerStatement) {
            let chunk = pieces[start..<min(pieces.count, start + PostgresStore.rowsPerStatement)]
            let values = chunk.flatMap { piece -> [SQLValue] in
                [.text(piece.subscriptionId), .text(piece.meterSlug), piece.windowStart.sql, .integer(piece.count), .text(piece.sum)]
            }
            // Several pieces may fall in one counter: summed first, as an UPDATE moves a row once.
            try session.run("""
                UPDATE usage_counters c SET used = c.used + d.delta
                FROM (SELECT k.subscription_id, k.meter_slug, k.period_start, k.period_end,
                             sum(CASE k.aggregation WHEN 'COUNT' THEN v.count::numeric ELSE v.sum END) AS delta
                      FROM usage_counters k
                      JOIN (VALUES \(Array(repeating: "(?::text, ?::text, ?::bigint, ?::bigint, ?::numeric)", count: chunk.count).joined(separator: ", ")))
                           AS v (subscription_id, meter_slug, window_start, count, sum)
                        ON k.subscription_id = v.subscription_id AND k.meter_slug = v.meter_slug
                       AND k.period_start <= v.window_start AND v.window_start < k.period_end
                      GROUP BY k.subscription_id, k.meter_slug, k.period_start, k.period_end) d
                WHERE c.subscription_id = d.subscription_id AND c.meter_slug = d.meter_slug
                  AND c.period_start = d.period_start AND c.period_end = d.period_end
                """, values)
        }
    }
}
