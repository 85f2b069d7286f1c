import Billing
import Foundation

// Usage as `SQLiteUsage` keeps it: ingest batches, de-duplication key blocks, segments in three
// tables (the ingest's, the server's log, the log folded), unique values, quarantined events.
// Aggregation and folding reuse SQLite's own rules (`StoreUsage.aggregate`, `FoldedSegment`) over
// the same rows, so the two stores cannot count differently.

extension MemoryStore {
    // MARK: Ingest batches

    public func beginBatch(input: String, at now: Instant) throws -> Int64 {
        try write { state in
            let id = nextRowId(state.batches.keys)
            state.batches[id] = BatchRow(id: id, input: input, startedAt: now)
            return id
        }
    }

    public func lastIngestBatch() throws -> Int64 { read { $0.batches.keys.max() ?? 0 } }

    public func finishBatch(_ id: Int64, input: String?, accepted: Int, duplicates: Int, rejected: Int, at now: Instant) throws {
        try write { state in
            guard var batch = state.batches[id] else { return }
            batch.input = input ?? batch.input
            batch.finishedAt = now
            batch.accepted += Int64(accepted)
            batch.duplicates += Int64(duplicates)
            batch.rejected += Int64(rejected)
            guard batch.accepted >= 0, batch.duplicates >= 0, batch.rejected >= 0 else { throw Constraint.check("accepted >= 0") }
            state.batches[id] = batch
        }
    }

    // MARK: De-duplication keys

    public func forEachEventKey(day: Int64, _ body: (_ hash: Int64, _ hash2: Int64) -> Void) throws {
        let blocks = read { $0.keyBlocks.filter { $0.day == day } }
        for block in blocks { EventKeyBlock.forEachKey(in: block.keys, body) }
    }

    public func lastEventKeyBlock() throws -> Int64 { read { $0.keyBlocks.last?.id ?? 0 } }

    public func forEachEventKey(after mark: Int64, days: Set<Int32>, skippingBatches batches: Set<Int64>,
                                _ body: (_ day: Int64, _ hash: Int64, _ hash2: Int64) -> Void) throws -> Int64 {
        let blocks = read { $0.keyBlocks.filter { $0.id > mark } }
        var newest = mark
        for block in blocks {
            newest = max(newest, block.id)
            guard days.contains(Int32(truncatingIfNeeded: block.day)), !(block.batchId.map(batches.contains) ?? false) else { continue }
            EventKeyBlock.forEachKey(in: block.keys) { body(block.day, $0, $1) }
        }
        return newest
    }

    public func appendEventKeys(_ halves: [UInt64], day: Int64, batch: Int64) throws {
        try appendEventKeys(parts: [halves], day: day, batch: batch)
    }

    public func appendEventKeys(parts: [[UInt64]], day: Int64, batch: Int64) throws {
        guard parts.contains(where: { !$0.isEmpty }) else { return }
        let keys = EventKeyBlock.encode(parts: parts)
        try write { state in
            try Constraint.reference(state.batches[batch] != nil)
            guard keys.count % 16 == 0 else { throw Constraint.check("length(keys) % 16 = 0") }
            state.keyBlocks.append(KeyBlockRow(id: nextRowId(state.keyBlocks.map(\.id)), day: day, batchId: batch, keys: keys))
        }
    }

    @discardableResult
    public func pruneEventKeys(before cutoff: Instant) throws -> Int {
        let day = EventKeyBlock.day(of: cutoff.seconds)
        return try write { state in
            let before = state.keyBlocks.count
            state.keyBlocks.removeAll { $0.day < day }
            return before - state.keyBlocks.count
        }
    }

    // MARK: Segments

    @discardableResult
    public func writeSegments(_ pieces: [SegmentPiece], batch: Int64, into table: SegmentTable) throws -> Int {
        try write { state in
            var closedThrough: [String: Int64] = [:]
            for close in state.closes.values {
                closedThrough[close.subscriptionId] = max(closedThrough[close.subscriptionId] ?? Int64.min, close.billDate.seconds)
            }
            var late = 0
            for piece in pieces {
                let isLate = piece.windowStart.seconds < closedThrough[piece.subscriptionId] ?? Int64.min
                if isLate { late += 1 }
                var row = SegmentRow(subscriptionId: piece.subscriptionId, meterSlug: piece.meterSlug, windowStart: piece.windowStart.seconds,
                                     groupKey: piece.groupKey, batchId: batch, count: piece.count, sum: piece.sum, min: piece.min,
                                     max: piece.max, latestTime: piece.latestTime.seconds, latestValue: piece.latestValue, late: isLate ? 1 : 0)
                guard piece.count > 0 else { throw Constraint.check("count > 0") }
                switch table {
                case .segments:
                    guard !state.segmentKeys.contains(row.key) else {
                        throw Constraint.primaryKey("usage_segments.subscription_id, usage_segments.meter_slug, usage_segments.window_start, usage_segments.group_key, usage_segments.batch_id")
                    }
                    try Constraint.reference(state.subscriptions[piece.subscriptionId] != nil && state.batches[batch] != nil)
                    state.segmentKeys.insert(row.key)
                    state.segments.append(row)
                case .log:
                    row.id = (state.usageLog.last?.id ?? 0) + 1
                    state.usageLog.append(row)
                }
                for value in piece.uniqueValues {
                    try Constraint.reference(state.subscriptions[piece.subscriptionId] != nil)
                    state.uniqueValues.insert(UniqueValue(subscriptionId: piece.subscriptionId, meterSlug: piece.meterSlug,
                                                          windowStart: piece.windowStart.seconds, value: value))
                }
            }
            return late
        }
    }

    @discardableResult
    public func foldUsageLog(limit: Int) throws -> Int {
        try write { state in
            guard let first = state.usageLog.first?.id else { return 0 }
            let last = first + Int64(min(limit, 1 << 40)) - 1
            let rows = state.usageLog.filter { $0.id <= last }
            guard !rows.isEmpty else { return 0 }
            // Stable: rows of one key are added up in the order they were logged.
            let ordered = rows.enumerated().sorted {
                $0.element.liveKey == $1.element.liveKey ? $0.offset < $1.offset : $0.element.liveKey.precedes($1.element.liveKey)
            }.map(\.element)
            var folded: [FoldedSegment] = []
            for row in ordered {
                let piece = FoldedSegment(row.liveRow)
                if folded.last?.key == piece.key { folded[folded.count - 1].absorb(piece) } else { folded.append(piece) }
            }
            try state.addToLive(folded)
            let newest = rows.map(\.id).max() ?? 0
            state.usageLog.removeAll { $0.id <= newest }
            return rows.count
        }
    }

    public func usageLogRows() throws -> Int { read { $0.usageLog.count } }

    // MARK: Late usage

    public func lateWindows() throws -> [(subscriptionId: String, meterSlug: String, windowStart: Instant)] {
        read { state in
            var seen = Set<LiveKey>()
            for row in state.allUsageRows() where row.late == 1 {
                seen.insert(LiveKey(subscriptionId: row.subscriptionId, meterSlug: row.meterSlug, windowStart: row.windowStart, groupKey: "", late: 1))
            }
            return seen.sorted { $0.precedes($1) }.map { ($0.subscriptionId, $0.meterSlug, Instant(seconds: $0.windowStart)) }
        }
    }

    public func markLateBilled(subscriptionId: String, period: Period) throws {
        try write { state in
            func inPeriod(_ row: SegmentRow) -> Bool {
                row.late == 1 && row.subscriptionId == subscriptionId && row.windowStart >= period.start.seconds && row.windowStart < period.end.seconds
            }
            for index in state.segments.indices where inPeriod(state.segments[index]) { state.segments[index].late = 2 }
            for index in state.usageLog.indices where inPeriod(state.usageLog[index]) { state.usageLog[index].late = 2 }
            // In usage_live lateness is part of the key: a window's late row is added to its billed row.
            let late = state.usageLive.values.filter(inPeriod).sorted { $0.liveKey.precedes($1.liveKey) }
            guard !late.isEmpty else { return }
            for row in late { state.usageLive[row.liveKey] = nil }
            try state.addToLive(late.map { row in
                var billed = row
                billed.late = 2
                return FoldedSegment(billed.liveRow)
            })
        }
    }

    public func quantity(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal {
        read { state in
            if meter.aggregation == .uniqueCount {
                return Decimal(state.uniqueValues.filter {
                    $0.subscriptionId == subscriptionId && $0.meterSlug == meter.slug
                        && $0.windowStart >= period.start.seconds && $0.windowStart < period.end.seconds
                }.map(\.value).count)
            }
            let rows = state.usageRows(meter: meter.slug, subscriptionId: subscriptionId, period: period)
            return StoreUsage.aggregate(meter.aggregation, rows: rows.map(\.measureRow))
        }
    }

    public func daily(meter: Meter, subscriptionId: String, period: Period) throws -> [DailyUsage] {
        guard period.end > period.start else { return [] }
        var values: [Int64: Decimal] = [:]
        read { state in
            if meter.aggregation == .uniqueCount {
                var distinct: [Int64: Set<String>] = [:]
                for value in state.uniqueValues where value.subscriptionId == subscriptionId && value.meterSlug == meter.slug
                    && value.windowStart >= period.start.seconds && value.windowStart < period.end.seconds {
                    distinct[EventKeyBlock.day(of: value.windowStart), default: []].insert(value.value)
                }
                values = distinct.mapValues { Decimal($0.count) }
            } else {
                var byDay: [Int64: [Row]] = [:]
                for row in state.usageRows(meter: meter.slug, subscriptionId: subscriptionId, period: period).sorted(by: { $0.windowStart < $1.windowStart }) {
                    byDay[EventKeyBlock.day(of: row.windowStart), default: []].append(row.measureRow)
                }
                for (day, rows) in byDay { values[day] = StoreUsage.aggregate(meter.aggregation, rows: rows) }
            }
        }
        return DailyUsage.series(over: period, values: values)
    }

    // MARK: Quarantine

    public func quarantine(batch: Int64, line: Int, reason: String, raw: String) throws {
        try write { state in
            try Constraint.reference(state.batches[batch] != nil)
            state.quarantined.append(QuarantineRow(id: (state.quarantined.last?.id ?? 0) + 1, batchId: batch, line: line, reason: reason, raw: raw))
        }
    }

    public func quarantinedEvents(limit: Int) throws -> [(batch: Int64, line: Int, reason: String, raw: String)] {
        read { state in
            let sorted = state.quarantined.sorted {
                $0.batchId != $1.batchId ? $0.batchId > $1.batchId : ($0.line != $1.line ? $0.line < $1.line : $0.id < $1.id)
            }
            return (limit < 0 ? sorted[...] : sorted.prefix(limit)).map { ($0.batchId, $0.line, $0.reason, $0.raw) }
        }
    }

    // MARK: The key that signs usage links

    public func usageLinkKey(orStore fresh: [UInt8], at now: Instant) throws -> [UInt8] {
        try write { state in
            if let key = state.usageLinkKey { return key }
            guard fresh.count == 32 else { throw Constraint.check("length(key) = 32") }
            state.usageLinkKey = fresh
            return fresh
        }
    }
}

extension MemoryState {
    /// Every segment row, folded or not (SQLite's view `usage_rows`).
    func allUsageRows() -> [SegmentRow] { segments + Array(usageLive.values) + usageLog }

    func usageRows(meter: String, subscriptionId: String, period: Period) -> [SegmentRow] {
        allUsageRows().filter {
            $0.subscriptionId == subscriptionId && $0.meterSlug == meter
                && $0.windowStart >= period.start.seconds && $0.windowStart < period.end.seconds
        }
    }

    /// Adds each segment to its row of `usage_live`, making the row when there is none.
    mutating func addToLive(_ folded: [FoldedSegment]) throws {
        for segment in folded {
            var merged = segment
            guard let key = segment.liveKey else { continue }
            if let existing = usageLive[key] { merged.absorb(FoldedSegment(existing.liveRow)) }
            try Constraint.reference(subscriptions[key.subscriptionId] != nil && batches[merged.batch] != nil)
            usageLive[key] = SegmentRow(subscriptionId: key.subscriptionId, meterSlug: key.meterSlug, windowStart: key.windowStart,
                                        groupKey: key.groupKey, batchId: merged.batch, count: merged.count, sum: merged.sum,
                                        min: merged.min, max: merged.max, latestTime: merged.latestTime,
                                        latestValue: merged.latestValue, late: key.late)
        }
    }
}

extension SegmentRow {
    /// (count, sum, min, max, latest time, latest value): what `StoreUsage.aggregate` reads.
    var measureRow: Row {
        Row(values: [.integer(count), .text(sum), .text(min), .text(max), .integer(latestTime), .text(latestValue)])
    }

    /// (subscription, meter, window, group, late, batch, count, sum, min, max, latest time, latest
    /// value): what `FoldedSegment` reads.
    var liveRow: Row {
        Row(values: [.text(subscriptionId), .text(meterSlug), .integer(windowStart), .text(groupKey), .integer(Int64(late)),
                     .integer(batchId), .integer(count), .text(sum), .text(min), .text(max), .integer(latestTime), .text(latestValue)])
    }
}

extension FoldedSegment {
    var liveKey: LiveKey? {
        guard case .text(let subscription) = key[0], case .text(let meter) = key[1], case .integer(let window) = key[2],
              case .text(let group) = key[3], case .integer(let late) = key[4] else { return nil }
        return LiveKey(subscriptionId: subscription, meterSlug: meter, windowStart: window, groupKey: group, late: Int(late))
    }
}
