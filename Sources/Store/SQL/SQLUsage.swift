import Billing
import Foundation

extension SQLRepositories {
    // MARK: Ingest batches

    public func beginBatch(input: String, at now: Instant) throws -> Int64 {
        try connection.insertReturningId("INSERT INTO ingest_batches (input, started_at) VALUES (?, ?)", [.text(input), now.sql])
    }

    /// The id of the newest ingest batch (0 when there is none).
    public func lastIngestBatch() throws -> Int64 {
        try connection.first("SELECT coalesce(max(id), 0) FROM ingest_batches")?.int(0) ?? 0
    }

    public func finishBatch(_ id: Int64, input: String?, accepted: Int, duplicates: Int, rejected: Int, at now: Instant) throws {
        try connection.run("""
            UPDATE ingest_batches SET input = coalesce(?, input), finished_at = ?, accepted = accepted + ?, duplicates = duplicates + ?,
                                      rejected = rejected + ? WHERE id = ?
            """, [SQLValue(input), now.sql, .integer(Int64(accepted)), .integer(Int64(duplicates)), .integer(Int64(rejected)), .integer(id)])
    }

    /// Calls `body` with every stored de-duplication key of a UTC day.
    public func forEachEventKey(day: Int64, _ body: (_ hash: Int64, _ hash2: Int64) -> Void) throws {
        let blocks = try connection.statement("SELECT keys FROM event_key_blocks WHERE day = ?")
        try blocks.bind([.integer(day)])
        while let row = try blocks.next() {
            guard case .blob(let keys) = row[0] else { continue }
            EventKeyBlock.forEachKey(in: keys, body)
        }
    }

    /// The id of the newest key block (0 when there is none).
    public func lastEventKeyBlock() throws -> Int64 {
        try connection.first("SELECT coalesce(max(id), 0) FROM event_key_blocks")?.int(0) ?? 0
    }

    /// Calls `body` with every key of the blocks newer than `mark` that fall on one of `days`,
    /// except those `batches` wrote; returns the newest block's id, the mark for next time.
    public func forEachEventKey(after mark: Int64, days: Set<Int32>, skippingBatches batches: Set<Int64>,
                                _ body: (_ day: Int64, _ hash: Int64, _ hash2: Int64) -> Void) throws -> Int64 {
        var newest = mark
        let blocks = try connection.statement("SELECT id, day, batch_id, keys FROM event_key_blocks WHERE id > ? ORDER BY id")
        try blocks.bind([.integer(mark)])
        while let row = try blocks.next() {
            newest = max(newest, row.int(0) ?? newest)
            guard let day = row.int(1), days.contains(Int32(truncatingIfNeeded: day)),
                  !(row.int(2).map(batches.contains) ?? false), case .blob(let keys) = row[3] else { continue }
            EventKeyBlock.forEachKey(in: keys) { body(day, $0, $1) }
        }
        return newest
    }

    /// Appends a block of new keys for a day, recorded by `batch`: 64-bit halves, hash then
    /// hash2 for each key.
    public func appendEventKeys(_ halves: [UInt64], day: Int64, batch: Int64) throws {
        try appendEventKeys(parts: [halves], day: day, batch: batch)
    }

    /// Appends one block of new keys for a day from parts of 64-bit halves, one after another.
    public func appendEventKeys(parts: [[UInt64]], day: Int64, batch: Int64) throws {
        guard parts.contains(where: { !$0.isEmpty }) else { return }
        let insert = try connection.statement("INSERT INTO event_key_blocks (day, batch_id, keys) VALUES (?, ?, ?)")
        try insert.bindInteger(day, at: 1)
        try insert.bindInteger(batch, at: 2)
        // A block holds tens of megabytes: SQLite reads it where it is rather than from a copy.
        try EventKeyBlock.encode(parts: parts).withUnsafeBytes { keys in
            defer { insert.reset() }
            try insert.bindBlob(borrowing: keys, at: 3)
            try insert.run()
        }
    }

    /// Forgets the de-duplication keys of days that end at or before `cutoff` (`dedupeRetention`).
    @discardableResult
    public func pruneEventKeys(before cutoff: Instant) throws -> Int {
        try connection.run("DELETE FROM event_key_blocks WHERE day < ?", [.integer(EventKeyBlock.day(of: cutoff.seconds))])
    }

    /// Writes segment pieces, in the order given (callers sort them by key, which keeps the
    /// B-tree writes sequential). Whether a piece is late is decided here, in the transaction
    /// that stores it, against the closes committed before it: a piece whose window starts before
    /// its subscription's latest closed bill date lies in a period already closed, and is billed
    /// as late usage on the next invoice. Returns how many pieces were late.
    @discardableResult
    public func writeSegments(_ pieces: [SegmentPiece], batch: Int64, into table: SegmentTable) throws -> Int {
        try connection.transaction {
            let insert = try connection.statement("""
                INSERT INTO \(table.rawValue) (subscription_id, meter_slug, window_start, group_key, batch_id, count, sum, min, max,
                                            latest_time, latest_value, late)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let unique = try connection.statement("""
                INSERT INTO usage_unique_values (subscription_id, meter_slug, window_start, value) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
            let closed = try connection.statement("SELECT max(bill_date) FROM period_closes WHERE subscription_id = ?")
            var subscription: String?, closedThrough = Int64.min, late = 0
            for piece in pieces {
                if piece.subscriptionId != subscription {
                    subscription = piece.subscriptionId
                    try closed.bindText(piece.subscriptionId, at: 1)
                    closedThrough = try closed.next()?.int(0) ?? Int64.min
                    closed.reset()
                }
                let isLate = piece.windowStart.seconds < closedThrough
                if isLate { late += 1 }
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
                try insert.bindInteger(isLate ? 1 : 0, at: 12)
                _ = try insert.step()
                for value in piece.uniqueValues {
                    try unique.bind([.text(piece.subscriptionId), .text(piece.meterSlug), piece.windowStart.sql, .text(value)])
                    _ = try unique.step()
                }
            }
            return late
        }
    }

    public func quarantine(batch: Int64, line: Int, reason: String, raw: String) throws {
        try connection.run("INSERT INTO quarantined_events (batch_id, line, reason, raw) VALUES (?, ?, ?, ?)",
                         [.integer(batch), .integer(Int64(line)), connection.wholeText(reason), connection.wholeText(raw)])
    }

    /// Quarantined events, newest batch first: (batch, line, reason, raw).
    public func quarantinedEvents(limit: Int) throws -> [(batch: Int64, line: Int, reason: String, raw: String)] {
        try connection.query("SELECT batch_id, line, reason, raw FROM quarantined_events ORDER BY batch_id DESC, line LIMIT ?",
                           [.integer(Int64(limit))]).map { ($0.int(0) ?? 0, Int($0.int(1) ?? 0), $0.wholeText(2) ?? "", $0.wholeText(3) ?? "") }
    }

    // MARK: The usage log

    /// Adds the oldest `limit` rows of the usage log into `usage_live`: per subscription, meter,
    /// window, group and lateness, count and sum added, the least min, the greatest max, the
    /// latest value by time (the larger at the same second), filed under the newest batch.
    /// Readers see the same usage before and after. Returns the number of log rows folded.
    @discardableResult
    public func foldUsageLog(limit: Int) throws -> Int {
        try transaction {
            guard let first = try connection.first("SELECT min(id) FROM usage_log")?.int(0) else { return 0 }
            let rows = try connection.query("""
                SELECT subscription_id, meter_slug, window_start, group_key, late, batch_id, count, sum, min, max, latest_time, latest_value, id
                FROM usage_log WHERE id <= ? ORDER BY subscription_id, meter_slug, window_start, group_key, late
                """, [.integer(first + Int64(min(limit, 1 << 40)) - 1)])
            guard !rows.isEmpty else { return 0 }
            var folded: [FoldedSegment] = []
            var newest: Int64 = 0
            for row in rows {
                newest = Swift.max(newest, row.int(12) ?? 0)
                let piece = FoldedSegment(row)
                if folded.last?.key == piece.key { folded[folded.count - 1].absorb(piece) } else { folded.append(piece) }
            }
            try addToLive(folded)
            try connection.run("DELETE FROM usage_log WHERE id <= ?", [.integer(newest)])
            return rows.count
        }
    }

    /// Adds each segment to its row of `usage_live`, making the row when there is none.
    func addToLive(_ segments: [FoldedSegment]) throws {
        let existing = try connection.statement("""
            SELECT subscription_id, meter_slug, window_start, group_key, late, batch_id, count, sum, min, max, latest_time, latest_value
            FROM usage_live WHERE subscription_id = ? AND meter_slug = ? AND window_start = ? AND group_key = ? AND late = ?
            """)
        let upsert = try connection.statement("""
            INSERT INTO usage_live (subscription_id, meter_slug, window_start, group_key, late, batch_id, count, sum, min, max,
                                    latest_time, latest_value)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (subscription_id, meter_slug, window_start, group_key, late) DO UPDATE SET
                batch_id = excluded.batch_id, count = excluded.count, sum = excluded.sum, min = excluded.min, max = excluded.max,
                latest_time = excluded.latest_time, latest_value = excluded.latest_value
            """)
        for segment in segments {
            var merged = segment
            try existing.bind(segment.key)
            if let row = try existing.next() { merged.absorb(FoldedSegment(row)) }
            existing.reset()
            try upsert.bind(merged.key + [.integer(merged.batch), .integer(merged.count), .text(merged.sum), .text(merged.min),
                                          .text(merged.max), .integer(merged.latestTime), .text(merged.latestValue)])
            _ = try upsert.step()
        }
    }

    /// Rows in the usage log, not yet folded.
    public func usageLogRows() throws -> Int {
        Int(try connection.first("SELECT count(*) FROM usage_log")?.int(0) ?? 0)
    }

    // MARK: Late usage

    /// Windows holding late usage not yet billed: (subscription, meter, window start).
    public func lateWindows() throws -> [(subscriptionId: String, meterSlug: String, windowStart: Instant)] {
        try connection.query("SELECT DISTINCT subscription_id, meter_slug, window_start FROM usage_rows WHERE late = 1 ORDER BY 1, 2, 3")
            .map { ($0.string(0) ?? "", $0.string(1) ?? "", $0.instant(2) ?? Instant(seconds: 0)) }
    }

    /// Marks the late usage of a subscription's period as billed, folded or not. In
    /// `usage_live`, where lateness is part of the key, a window's late row is added to its
    /// billed row.
    public func markLateBilled(subscriptionId: String, period: Period) throws {
        try transaction {
            for table in SegmentTable.allCases {
                try connection.run("UPDATE \(table.rawValue) SET late = 2 WHERE late = 1 AND subscription_id = ? AND window_start >= ? AND window_start < ?",
                                 [.text(subscriptionId), period.start.sql, period.end.sql])
            }
            let bounds: [SQLValue] = [.text(subscriptionId), period.start.sql, period.end.sql]
            let late = try connection.query("""
                SELECT subscription_id, meter_slug, window_start, group_key, late, batch_id, count, sum, min, max, latest_time, latest_value
                FROM usage_live WHERE late = 1 AND subscription_id = ? AND window_start >= ? AND window_start < ?
                """, bounds)
            guard !late.isEmpty else { return }
            try connection.run("DELETE FROM usage_live WHERE late = 1 AND subscription_id = ? AND window_start >= ? AND window_start < ?", bounds)
            try addToLive(late.map { row in
                var segment = FoldedSegment(row)
                segment.key[4] = .integer(2)
                return segment
            })
        }
    }

    /// The meter's aggregation over the segments whose window starts inside `period`.
    public func quantity(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        try StoreUsage(connection: connection).aggregate(meter: meter, subscriptionId: subscriptionId, period: period)
    }

    public func daily(meter: Meter, subscriptionId: String, period: Period) throws -> [DailyUsage] {
        try StoreUsage(connection: connection).daily(meter: meter, subscriptionId: subscriptionId, period: period)
    }
}

/// Usage as the store holds it: segments aggregated per meter over whole windows.
struct StoreUsage {
    let connection: any SQLConnection

    /// The meter's aggregation over the segments whose window starts inside `period`.
    func aggregate(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        if meter.aggregation == .uniqueCount {
            let row = try connection.first("""
                SELECT count(DISTINCT value) FROM usage_unique_values
                WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ?
                """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql])
            return Decimal(row?.int(0) ?? 0)
        }
        let rows = try connection.query("""
            SELECT count, sum, min, max, latest_time, latest_value FROM usage_rows
            WHERE subscription_id = ? AND meter_slug = ? AND window_start >= ? AND window_start < ?
            """, [.text(subscriptionId), .text(meter.slug), period.start.sql, period.end.sql])
        return StoreUsage.aggregate(meter.aggregation, rows: rows)
    }

    /// The aggregation over segment rows of (count, sum, min, max, latest_time, latest_value),
    /// starting at column `from`.
    static func aggregate(_ aggregation: Aggregation, rows: some Collection<Row>, from: Int = 0) -> Decimal {
        guard !rows.isEmpty else { return 0 }
        // Only the columns the aggregation reads are parsed: a text-to-decimal parse per row and
        // column is most of the work.
        let (needsSum, needsMin, needsMax, needsLatest): (Bool, Bool, Bool, Bool)
        switch aggregation {
        case .sum, .avg: (needsSum, needsMin, needsMax, needsLatest) = (true, false, false, false)
        case .count, .uniqueCount: (needsSum, needsMin, needsMax, needsLatest) = (false, false, false, false)
        case .max: (needsSum, needsMin, needsMax, needsLatest) = (false, false, true, false)
        case .min: (needsSum, needsMin, needsMax, needsLatest) = (false, true, false, false)
        case .latest: (needsSum, needsMin, needsMax, needsLatest) = (false, false, false, true)
        }
        var count: Int64 = 0, sum: Decimal = 0
        var minimum: Decimal?, maximum: Decimal?
        var latest: (Int64, Decimal)?
        for row in rows {
            count += row.int(from) ?? 0
            if needsSum { sum += row.decimal(from + 1) ?? 0 }
            if needsMin, let v = row.decimal(from + 2) { minimum = Swift.min(minimum ?? v, v) }
            if needsMax, let v = row.decimal(from + 3) { maximum = Swift.max(maximum ?? v, v) }
            // Of two values at the same second the larger wins, whatever order the pieces came in.
            if needsLatest, let time = row.int(from + 4), let value = row.decimal(from + 5),
               latest.map({ time > $0.0 || (time == $0.0 && value > $0.1) }) ?? true {
                latest = (time, value)
            }
        }
        switch aggregation {
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


/// Segment rows of one key being added up by `foldUsageLog`. Texts are read as numbers only
/// when they differ (a COUNT meter's are all "0").
struct FoldedSegment {
    /// subscription, meter, window start, group, lateness.
    var key: [SQLValue]
    var batch: Int64
    var count: Int64
    var sum: String
    var min: String
    var max: String
    var latestTime: Int64
    var latestValue: String

    /// From a row of (subscription, meter, window, group, late, batch, count, sum, min, max,
    /// latest time, latest value).
    init(_ row: Row) {
        key = (0..<5).map { row[$0] }
        batch = row.int(5) ?? 0
        count = row.int(6) ?? 0
        sum = row.string(7) ?? "0"
        min = row.string(8) ?? "0"
        max = row.string(9) ?? "0"
        latestTime = row.int(10) ?? 0
        latestValue = row.string(11) ?? "0"
    }

    mutating func absorb(_ other: FoldedSegment) {
        batch = Swift.max(batch, other.batch)
        count += other.count
        if other.sum != "0" { sum = sum == "0" ? other.sum : (FoldedSegment.number(sum) + FoldedSegment.number(other.sum)).plainString }
        if other.min != min, FoldedSegment.number(other.min) < FoldedSegment.number(min) { min = other.min }
        if other.max != max, FoldedSegment.number(other.max) > FoldedSegment.number(max) { max = other.max }
        if other.latestTime > latestTime
            || (other.latestTime == latestTime && other.latestValue != latestValue && FoldedSegment.number(other.latestValue) > FoldedSegment.number(latestValue)) {
            latestTime = other.latestTime
            latestValue = other.latestValue
        }
    }

    static func number(_ text: String) -> Decimal { Decimal(exactly: text) ?? 0 }
}
