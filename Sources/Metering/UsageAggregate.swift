import Billing
import Foundation

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
