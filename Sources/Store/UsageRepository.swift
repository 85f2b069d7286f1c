import Billing
import Foundation

/// The aggregate of some events for one subscription, meter, group-by values and window.
/// Amounts are exact decimal texts ("12", "0.5"): the store keeps them as written.
public struct SegmentPiece: Hashable, Sendable {
    public var subscriptionId: String
    public var meterSlug: String
    public var windowStart: Instant
    public var groupKey: String
    public var count: Int64
    public var sum: String
    public var min: String
    public var max: String
    public var latestTime: Instant
    public var latestValue: String
    /// In a period already closed: billed as late usage on the next invoice.
    public var late: Bool
    /// The distinct values of a UNIQUE_COUNT meter.
    public var uniqueValues: [String]

    public init(subscriptionId: String, meterSlug: String, windowStart: Instant, groupKey: String = "", count: Int64,
                sum: String, min: String, max: String, latestTime: Instant, latestValue: String, late: Bool = false,
                uniqueValues: [String] = []) {
        self.subscriptionId = subscriptionId
        self.meterSlug = meterSlug
        self.windowStart = windowStart
        self.groupKey = groupKey
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latestTime = latestTime
        self.latestValue = latestValue
        self.late = late
        self.uniqueValues = uniqueValues
    }

    public init(subscriptionId: String, meterSlug: String, windowStart: Instant, groupKey: String = "", count: Int64,
                sum: Decimal, min: Decimal, max: Decimal, latestTime: Instant, latestValue: Decimal, late: Bool = false,
                uniqueValues: [String] = []) {
        self.init(subscriptionId: subscriptionId, meterSlug: meterSlug, windowStart: windowStart, groupKey: groupKey, count: count,
                  sum: sum.plainString, min: min.plainString, max: max.plainString, latestTime: latestTime,
                  latestValue: latestValue.plainString, late: late, uniqueValues: uniqueValues)
    }
}

/// The identity of an event for de-duplication: a 128-bit hash of `(source, id)` and its time.
public struct EventKey: Hashable, Sendable {
    public var hash: Int64
    public var hash2: Int64
    public var time: Instant

    public init(hash: Int64, hash2: Int64, time: Instant) {
        self.hash = hash
        self.hash2 = hash2
        self.time = time
    }
}

extension Store {
    // MARK: Ingest batches

    public func beginBatch(input: String, at now: Instant) throws -> Int64 {
        try database.run("INSERT INTO ingest_batches (input, started_at) VALUES (?, ?)", [.text(input), now.sql])
        return database.lastInsertRowID
    }

    public func finishBatch(_ id: Int64, input: String? = nil, accepted: Int, duplicates: Int, rejected: Int, at now: Instant) throws {
        try database.run("""
            UPDATE ingest_batches SET input = coalesce(?, input), finished_at = ?, accepted = accepted + ?, duplicates = duplicates + ?,
                                      rejected = rejected + ? WHERE id = ?
            """, [SQLValue(input), now.sql, .integer(Int64(accepted)), .integer(Int64(duplicates)), .integer(Int64(rejected)), .integer(id)])
    }

    /// Records event keys (the 128-bit hash of `(source, id)`); returns, per key, whether it is
    /// new (false: a duplicate, of a stored event or of an earlier key in the list). Keys are
    /// inserted in sorted order, which keeps the B-tree writes sequential.
    public func recordEventKeys(_ keys: [EventKey]) throws -> [Bool] {
        let insert = try database.prepare("INSERT OR IGNORE INTO event_keys (hash, hash2, time) VALUES (?, ?, ?)")
        let stored = try database.prepare("SELECT hash2 FROM event_keys WHERE hash = ?")
        let overflow = try database.prepare("INSERT OR IGNORE INTO event_key_overflow (hash, hash2, time) VALUES (?, ?, ?)")
        // Sorted by the first half only: ties (the same event twice, or a rare collision) keep
        // input order, so the first of two copies is the one recorded as new.
        var order = keys.indices.map { (hash: keys[$0].hash, index: Int32($0)) }
        order.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.index < $1.index }
        var fresh = [Bool](repeating: false, count: keys.count)
        for (_, position) in order {
            let index = Int(position)
            let key = keys[index]
            try insert.bindInteger(key.hash, at: 1)
            try insert.bindInteger(key.hash2, at: 2)
            try insert.bindInteger(key.time.seconds, at: 3)
            if try insert.step() == 1 {
                fresh[index] = true
                continue
            }
            try stored.bind([.integer(key.hash)])
            let hash2 = try stored.next()?.int(0)
            stored.reset()
            if hash2 == key.hash2 { continue }
            try overflow.bind([.integer(key.hash), .integer(key.hash2), key.time.sql])
            fresh[index] = try overflow.step() == 1
        }
        return fresh
    }

    /// Forgets de-duplication keys of events older than `cutoff` (`dedupeRetention`).
    public func pruneEventKeys(before cutoff: Instant) throws -> Int {
        try database.run("DELETE FROM event_keys WHERE time < ?", [cutoff.sql])
            + database.run("DELETE FROM event_key_overflow WHERE time < ?", [cutoff.sql])
    }

    /// Writes segment pieces, in the order given (callers sort them by key, which keeps the
    /// B-tree writes sequential).
    public func writeSegments(_ pieces: [SegmentPiece], batch: Int64) throws {
        let insert = try database.prepare("""
            INSERT INTO usage_segments (subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max,
                                        latest_time, latest_value, late)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let unique = try database.prepare("INSERT OR IGNORE INTO usage_unique_values (subscription_id, meter_slug, window_start, value) VALUES (?, ?, ?, ?)")
        for piece in pieces {
            try insert.bindText(piece.subscriptionId, at: 1)
            try insert.bindText(piece.meterSlug, at: 2)
            try insert.bindInteger(piece.windowStart.seconds, at: 3)
            try insert.bindText(piece.groupKey, at: 4)
            try insert.bindInteger(batch, at: 5)
            try insert.bindInteger(piece.count, at: 6)
            try insert.bindText(piece.sum, at: 7)
            try insert.bindText(piece.min, at: 8)
            try insert.bindText(piece.max, at: 9)
            try insert.bindInteger(piece.latestTime.seconds, at: 10)
            try insert.bindText(piece.latestValue, at: 11)
            try insert.bindInteger(piece.late ? 1 : 0, at: 12)
            _ = try insert.step()
            for value in piece.uniqueValues {
                try unique.bind([.text(piece.subscriptionId), .text(piece.meterSlug), piece.windowStart.sql, .text(value)])
                _ = try unique.step()
            }
        }
    }

    public func quarantine(batch: Int64, line: Int, reason: String, raw: String) throws {
        try database.run("INSERT INTO quarantined_events (batch_id, line, reason, raw) VALUES (?, ?, ?, ?)",
                         [.integer(batch), .integer(Int64(line)), .text(reason), .text(raw)])
    }

    /// Quarantined events, newest batch first: (batch, line, reason, raw).
    public func quarantinedEvents(limit: Int = 1000) throws -> [(batch: Int64, line: Int, reason: String, raw: String)] {
        try database.query("SELECT batch_id, line, reason, raw FROM quarantined_events ORDER BY batch_id DESC, line LIMIT ?",
                           [.integer(Int64(limit))]).map { ($0.int(0) ?? 0, Int($0.int(1) ?? 0), $0.string(2) ?? "", $0.string(3) ?? "") }
    }

    // MARK: Late usage

    /// Windows holding late usage not yet billed: (subscription, meter, window start).
    public func lateWindows() throws -> [(subscriptionId: String, meterSlug: String, windowStart: Instant)] {
        try database.query("SELECT DISTINCT subscription_id, meter_slug, window_start FROM usage_segments WHERE late = 1 ORDER BY 1, 2, 3")
            .map { ($0.string(0) ?? "", $0.string(1) ?? "", $0.instant(2) ?? Instant(seconds: 0)) }
    }

    /// Marks the late usage of a subscription's period as billed.
    public func markLateBilled(subscriptionId: String, period: Period) throws {
        try database.run("UPDATE usage_segments SET late = 2 WHERE late = 1 AND subscription_id = ? AND window_start >= ? AND window_start < ?",
                         [.text(subscriptionId), period.start.sql, period.end.sql])
    }

    /// Usage read from the segments, for the billing core and quota checks.
    public var usage: StoreUsage { StoreUsage(database: database) }
}

/// Usage as the store holds it: segments aggregated per meter over whole windows.
public struct StoreUsage: UsageSource {
    let database: Database

    public func quantity(meter: Meter, subscriptionId: String, period: Period) -> Decimal {
        (try? aggregate(meter: meter, subscriptionId: subscriptionId, period: period)) ?? 0
    }

    /// The meter's aggregation over the segments whose window starts inside `period`.
    public func aggregate(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        if meter.aggregation == .uniqueCount {
            let row = try database.first("""
                SELECT count(DISTINCT value) FROM usage_unique_values
                WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ?
                """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql])
            return Decimal(row?.int(0) ?? 0)
        }
        let rows = try database.query("""
            SELECT count, sum, min, max, latest_time, latest_value FROM usage_segments
            WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ?
            """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql])
        guard !rows.isEmpty else { return 0 }
        var count: Int64 = 0, sum: Decimal = 0
        var minimum: Decimal?, maximum: Decimal?
        var latest: (Int64, Decimal)?
        for row in rows {
            count += row.int(0) ?? 0
            sum += row.decimal(1) ?? 0
            if let v = row.decimal(2) { minimum = Swift.min(minimum ?? v, v) }
            if let v = row.decimal(3) { maximum = Swift.max(maximum ?? v, v) }
            // Of two values at the same second the larger wins, whatever order the pieces came in.
            if let time = row.int(4), let value = row.decimal(5), latest.map({ time > $0.0 || (time == $0.0 && value > $0.1) }) ?? true {
                latest = (time, value)
            }
        }
        switch meter.aggregation {
        case .sum: return sum
        case .count: return Decimal(count)
        case .max: return maximum ?? 0
        case .min: return minimum ?? 0
        case .avg: return count == 0 ? 0 : (sum / Decimal(count)).rounded(scale: Aggregator.averageScale)
        case .latest: return latest?.1 ?? 0
        case .uniqueCount: return 0
        }
    }
}
