import Foundation

/// Where the billing core reads aggregated usage: the metering store in production, a list of
/// recorded events in tests. The quantity is the meter's aggregation over the events attributed
/// to the subscription with a time in `period`. A source that cannot read (a busy or broken
/// database) throws: an invoice is never rated on a guess.
public protocol UsageSource {
    func quantity(meter: Meter, subscriptionId: String, period: Period) throws -> Decimal
}

/// One metered event, already attributed to a subscription.
public struct UsageRecord: Hashable, Sendable {
    public var meterSlug: String
    public var subscriptionId: String
    public var time: Instant
    /// The extracted value (1 for COUNT).
    public var value: Decimal
    /// The string value counted by UNIQUE_COUNT.
    public var uniqueValue: String?

    public init(meterSlug: String, subscriptionId: String, time: Instant, value: Decimal = 1, uniqueValue: String? = nil) {
        self.meterSlug = meterSlug
        self.subscriptionId = subscriptionId
        self.time = time
        self.value = value
        self.uniqueValue = uniqueValue
    }
}

/// Usage as a list of events, aggregated on demand: the reference for every aggregation.
public struct RecordedUsage: UsageSource {
    public var records: [UsageRecord]

    public init(_ records: [UsageRecord] = []) { self.records = records }

    public func quantity(meter: Meter, subscriptionId: String, period: Period) -> Decimal {
        let events = records
            .filter { $0.meterSlug == meter.slug && $0.subscriptionId == subscriptionId && period.contains($0.time) }
            .sorted { $0.time < $1.time }
        return Aggregator.aggregate(meter.aggregation, values: events.map(\.value), uniqueValues: events.map(\.uniqueValue))
    }
}

/// Meter aggregations over values in time order.
public enum Aggregator {
    /// The decimals an `AVG` mean is rounded to (half away from zero) before pricing.
    public static let averageScale = 6

    public static func aggregate(_ aggregation: Aggregation, values: [Decimal], uniqueValues: [String?]) -> Decimal {
        switch aggregation {
        case .sum: return values.reduce(0, +)
        case .count: return Decimal(values.count)
        case .uniqueCount: return Decimal(Set(uniqueValues.compactMap { $0 }).count)
        case .max: return values.max() ?? 0
        case .min: return values.min() ?? 0
        case .avg:
            guard !values.isEmpty else { return 0 }
            return (values.reduce(0, +) / Decimal(values.count)).rounded(scale: averageScale)
        case .latest: return values.last ?? 0
        }
    }
}
