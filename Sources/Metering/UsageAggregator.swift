import Billing
import Foundation

/// Where a usage segment starts for an event: (subject, time) -> window start.
public typealias UsageWindow = @Sendable (_ subject: String, _ time: Instant) -> Instant

public enum UsageWindows {
    /// Floor to the UTC hour.
    public static let hourly: UsageWindow = { _, time in
        let seconds = time.seconds
        let hour = seconds >= 0 ? seconds / 3600 : -((-seconds + 3599) / 3600)
        return Instant(seconds: hour * 3600)
    }
}

/// What a usage segment is for. `subject` is the usage-attribution key until the store maps
/// subjects to subscriptions; `groupValues` follow `MeterSet.groupNames` of the meter (nil
/// where the event had no value).
public struct UsageSegmentKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var subject: String
    public var meterSlug: String
    public var groupValues: [String?]
    public var windowStart: Instant

    public init(subject: String, meterSlug: String, groupValues: [String?] = [], windowStart: Instant) {
        self.subject = subject
        self.meterSlug = meterSlug
        self.groupValues = groupValues
        self.windowStart = windowStart
    }

    /// Byte order of the texts, so a sorted flush is the same on every machine and locale.
    public static func < (lhs: UsageSegmentKey, rhs: UsageSegmentKey) -> Bool {
        func compare(_ a: String, _ b: String) -> Int {
            if a == b { return 0 }
            return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
        }
        let s = compare(lhs.subject, rhs.subject)
        if s != 0 { return s < 0 }
        let m = compare(lhs.meterSlug, rhs.meterSlug)
        if m != 0 { return m < 0 }
        if lhs.windowStart != rhs.windowStart { return lhs.windowStart < rhs.windowStart }
        for (a, b) in zip(lhs.groupValues, rhs.groupValues) {
            switch (a, b) {
            case (nil, nil): continue
            case (nil, _?): return true
            case (_?, nil): return false
            case (let x?, let y?):
                let c = compare(x, y)
                if c != 0 { return c < 0 }
            }
        }
        return lhs.groupValues.count < rhs.groupValues.count
    }

    public var description: String {
        "\(subject) \(meterSlug) \(groupValues.map { $0 ?? "-" }) \(windowStart)"
    }
}

/// The latest value of a segment. Of two values at the same second the larger wins, so the
/// result does not depend on the order events or partial aggregates arrive in.
public struct LatestValue: Hashable, Sendable {
    public var time: Instant
    public var value: MeterNumber

    public init(time: Instant, value: MeterNumber) {
        self.time = time
        self.value = value
    }

    func supersedes(_ other: LatestValue) -> Bool {
        time != other.time ? time > other.time : other.value < value
    }
}

/// A pre-aggregated usage segment. Merging two partial aggregates gives the aggregate of all
/// their events, in any order, so storage can flush pieces and combine them later.
public struct UsageAggregate: Hashable, Sendable {
    public var count: Int64 = 0
    /// Exact sum of numeric readings.
    public var sum: MeterNumber = .zero
    public var min: MeterNumber?
    public var max: MeterNumber?
    public var latest: LatestValue?
    /// UNIQUE_COUNT's distinct values.
    public var distinct: Set<String> = []

    public init() {}

    public init(count: Int64, sum: MeterNumber = .zero, min: MeterNumber? = nil, max: MeterNumber? = nil,
                latest: LatestValue? = nil, distinct: Set<String> = []) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latest = latest
        self.distinct = distinct
    }

    public mutating func add(_ reading: MeterReading, at time: Instant) {
        count += 1
        switch reading {
        case .count:
            break
        case .number(let value):
            sum = sum + value
            if let current = min { if value < current { min = value } } else { min = value }
            if let current = max { if current < value { max = value } } else { max = value }
            let candidate = LatestValue(time: time, value: value)
            if let current = latest { if candidate.supersedes(current) { latest = candidate } } else { latest = candidate }
        case .distinct(let text):
            distinct.insert(text)
        }
    }

    public mutating func merge(_ other: UsageAggregate) {
        count += other.count
        sum = sum + other.sum
        if let value = other.min, min.map({ value < $0 }) ?? true { min = value }
        if let value = other.max, max.map({ $0 < value }) ?? true { max = value }
        if let value = other.latest, latest.map({ value.supersedes($0) }) ?? true { latest = value }
        distinct.formUnion(other.distinct)
    }

    /// The meter's quantity, as `Billing.Aggregator.aggregate` computes it from the events.
    public func quantity(_ aggregation: Aggregation) -> Decimal {
        switch aggregation {
        case .count: return Decimal(count)
        case .sum: return sum.decimal
        case .uniqueCount: return Decimal(distinct.count)
        case .max: return max?.decimal ?? 0
        case .min: return min?.decimal ?? 0
        case .avg:
            guard count > 0 else { return 0 }
            return (sum.decimal / Decimal(count)).rounded(scale: Aggregator.averageScale)
        case .latest: return latest?.value.decimal ?? 0
        }
    }
}

/// Accepted events pre-aggregated in memory into usage segments.
public struct UsageAggregator: Sendable {
    public let meters: MeterSet
    public let window: UsageWindow
    public private(set) var segments: [UsageSegmentKey: UsageAggregate] = [:]

    public init(meters: MeterSet, window: @escaping UsageWindow = UsageWindows.hourly) {
        self.meters = meters
        self.window = window
    }

    /// Adds an event to the segment of each of its meters.
    public mutating func add(_ event: UsageEvent) {
        let start = window(event.subject, event.time)
        for m in event.meterIndices {
            let key = UsageSegmentKey(subject: event.subject, meterSlug: meters.meters[m].slug,
                                      groupValues: meters.groupValues(of: event, meter: m), windowStart: start)
            segments[key, default: UsageAggregate()].add(meters.reading(of: event, meter: m), at: event.time)
        }
    }

    public mutating func merge(_ other: UsageAggregator) {
        for (key, aggregate) in other.segments { segments[key, default: UsageAggregate()].merge(aggregate) }
    }

    /// Segments in key order: the order a storage flush writes them in.
    public func sortedSegments() -> [(key: UsageSegmentKey, aggregate: UsageAggregate)] {
        segments.sorted { $0.key < $1.key }.map { (key: $0.key, aggregate: $0.value) }
    }

    /// The meter's quantity for one segment, nil when the segment has no events.
    public func quantity(_ key: UsageSegmentKey) -> Decimal? {
        guard let aggregate = segments[key], let meter = meters.meters.first(where: { $0.slug == key.meterSlug })
        else { return nil }
        return aggregate.quantity(meter.aggregation)
    }
}
