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
    /// The distinct values of a UNIQUE_COUNT meter.
    public var uniqueValues: [String]

    public init(subscriptionId: String, meterSlug: String, windowStart: Instant, groupKey: String = "", count: Int64,
                sum: String, min: String, max: String, latestTime: Instant, latestValue: String,
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
        self.uniqueValues = uniqueValues
    }

    public init(subscriptionId: String, meterSlug: String, windowStart: Instant, groupKey: String = "", count: Int64,
                sum: Decimal, min: Decimal, max: Decimal, latestTime: Instant, latestValue: Decimal,
                uniqueValues: [String] = []) {
        self.init(subscriptionId: subscriptionId, meterSlug: meterSlug, windowStart: windowStart, groupKey: groupKey, count: count,
                  sum: sum.plainString, min: min.plainString, max: max.plainString, latestTime: latestTime,
                  latestValue: latestValue.plainString, uniqueValues: uniqueValues)
    }
}

/// De-duplication keys as stored: per UTC day of event time, blobs of 16-byte keys (the two
/// 64-bit halves of an event's `(source, id)` hash, little-endian).
public enum EventKeyBlock {
    public static let secondsPerDay: Int64 = 86_400

    /// The UTC day (days since 1970-01-01) of a time in seconds.
    public static func day(of seconds: Int64) -> Int64 {
        seconds >= 0 ? seconds / secondsPerDay : (seconds + 1) / secondsPerDay - 1
    }

    /// Calls `body` with each key of a stored block: its two halves, as `encode` wrote them.
    public static func forEachKey(in keys: [UInt8], _ body: (_ hash: Int64, _ hash2: Int64) -> Void) {
        keys.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: raw.count - 15, by: 16) {
                body(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self)),
                     Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: Int64.self)))
            }
        }
    }

    /// Keys held as 64-bit halves (hash, hash2, hash, ...) in the stored encoding.
    public static func encode(_ halves: [UInt64]) -> [UInt8] { encode(parts: [halves]) }

    /// Keys held as 64-bit halves in parts, encoded one part after another.
    public static func encode(parts: [[UInt64]]) -> [UInt8] {
        let count = parts.reduce(0) { $0 + $1.count } * 8
        return [UInt8](unsafeUninitializedCapacity: count) { bytes, initialized in
            let raw = UnsafeMutableRawBufferPointer(bytes)
            var offset = 0
            for part in parts {
                for half in part {
                    raw.storeBytes(of: half.littleEndian, toByteOffset: offset, as: UInt64.self)
                    offset += 8
                }
            }
            initialized = count
        }
    }
}

/// One UTC day's usage of a meter: the day's first instant and the meter's aggregation over the
/// segments whose window starts that day.
public struct DailyUsage: Hashable, Sendable {
    public var day: Instant
    public var value: Decimal

    public init(day: Instant, value: Decimal) {
        self.day = day
        self.value = value
    }

    /// One entry for every UTC day `period` touches, `values` by day number (days since
    /// 1970-01-01), 0 where a day has none.
    public static func series(over period: Period, values: [Int64: Decimal]) -> [DailyUsage] {
        guard period.end > period.start else { return [] }
        let first = EventKeyBlock.day(of: period.start.seconds), last = EventKeyBlock.day(of: period.end.seconds - 1)
        return (first...last).map { DailyUsage(day: Instant(seconds: $0 * EventKeyBlock.secondsPerDay), value: values[$0] ?? 0) }
    }
}

/// Where segment rows are written: `usage_segments`, or the server's usage log, which is folded
/// into it in the background.
public enum SegmentTable: String, CaseIterable, Sendable {
    case segments = "usage_segments"
    case log = "usage_log"
}

/// Metered usage: ingest batches, de-duplication keys, usage segments (and the server's usage
/// log), quarantined events, late usage. As a `UsageSource` it answers a meter's aggregation
/// over whole windows, for the billing core and quota checks.
public protocol UsageRepository: AnyObject, UsageSource {
    // Ingest batches
    func beginBatch(input: String, at now: Instant) throws -> Int64
    func lastIngestBatch() throws -> Int64
    func finishBatch(_ id: Int64, input: String?, accepted: Int, duplicates: Int, rejected: Int, at now: Instant) throws

    // De-duplication keys, in blocks per UTC day (`EventKeyBlock`)
    func forEachEventKey(day: Int64, _ body: (_ hash: Int64, _ hash2: Int64) -> Void) throws
    /// The id of the newest key block (0 when there is none).
    func lastEventKeyBlock() throws -> Int64
    /// Keys of blocks newer than `mark` for `days`, skipping `batches`; returns the newest block read.
    func forEachEventKey(after mark: Int64, days: Set<Int32>, skippingBatches batches: Set<Int64>,
                         _ body: (_ day: Int64, _ hash: Int64, _ hash2: Int64) -> Void) throws -> Int64
    func appendEventKeys(_ halves: [UInt64], day: Int64, batch: Int64) throws
    func appendEventKeys(parts: [[UInt64]], day: Int64, batch: Int64) throws
    @discardableResult
    func pruneEventKeys(before cutoff: Instant) throws -> Int

    // Segments
    /// Adds segment rows, each marked late when its window's period was closed before this
    /// write; returns how many were late.
    @discardableResult
    func writeSegments(_ pieces: [SegmentPiece], batch: Int64, into table: SegmentTable) throws -> Int
    /// Adds the usage log's rows up into one row per window, group and lateness; returns the
    /// number of log rows folded.
    func foldUsageLog(limit: Int) throws -> Int
    /// Rows in the usage log, not yet folded.
    func usageLogRows() throws -> Int
    /// Windows holding late usage not yet billed: (subscription, meter, window start).
    func lateWindows() throws -> [(subscriptionId: String, meterSlug: String, windowStart: Instant)]
    /// Marks the late usage of a subscription's period as billed.
    func markLateBilled(subscriptionId: String, period: Period) throws
    /// The meter's usage per UTC day over the windows that start inside `period`, one entry for
    /// every day the period touches.
    func daily(meter: Meter, subscriptionId: String, period: Period) throws -> [DailyUsage]

    // Quarantine
    func quarantine(batch: Int64, line: Int, reason: String, raw: String) throws
    func quarantinedEvents(limit: Int) throws -> [(batch: Int64, line: Int, reason: String, raw: String)]
}

extension UsageRepository {
    public func finishBatch(_ id: Int64, accepted: Int, duplicates: Int, rejected: Int, at now: Instant) throws {
        try finishBatch(id, input: nil, accepted: accepted, duplicates: duplicates, rejected: rejected, at: now)
    }

    @discardableResult
    public func writeSegments(_ pieces: [SegmentPiece], batch: Int64) throws -> Int {
        try writeSegments(pieces, batch: batch, into: .segments)
    }

    @discardableResult
    public func foldUsageLog() throws -> Int { try foldUsageLog(limit: Int.max) }

    public func quarantinedEvents() throws -> [(batch: Int64, line: Int, reason: String, raw: String)] {
        try quarantinedEvents(limit: 1000)
    }
}
