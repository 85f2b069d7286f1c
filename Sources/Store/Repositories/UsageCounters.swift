import Billing
import Foundation

/// What a consuming check took from its usage period's counter.
public enum QuotaTake: Equatable, Sendable {
    /// Taken: the period's usage before the units were added.
    case taken(before: Decimal)
    /// Refused by a hard limit the period's usage has reached; nothing taken.
    case refused(used: Decimal)
}

/// Usage counters that servers sharing one database decide consuming checks by: a row per
/// subscription, meter (COUNT or SUM) and usage period, holding the period's usage as stored.
/// Every write of usage moves the rows it falls in (`writeSegments`), so a counter stays equal
/// to what `quantity` reads; a consuming check moves its row with a conditional update, which
/// several servers' checks take turns at, and so never take a hard limit past its quota.
///
/// Each call runs inside the caller's write transaction: a check's units are taken, its usage
/// written, and the units given back (the written usage now counts them) before one commit.
public protocol SharedUsageCounters: AnyObject {
    /// Adds `units` to the counter of `meter`'s usage of the subscription in `period`, unless
    /// `hardLimit` is given and the usage has reached it. The counter is made from the stored
    /// usage the first time a period is asked about.
    func take(_ units: Decimal, meter: Meter, subscriptionId: String, period: Period, hardLimit: Decimal?) throws -> QuotaTake
    /// Takes back what `take` added, once the usage it stood for is written; returns the
    /// period's usage after it.
    @discardableResult
    func giveBack(_ units: Decimal, meter: Meter, subscriptionId: String, period: Period) throws -> Decimal
    /// Forgets the counters of usage periods that ended before `end`: no check asks about them
    /// again, and one that did would make its counter again from the stored usage. Returns how
    /// many were forgotten.
    @discardableResult
    func forgetCounters(endedBefore end: Instant) throws -> Int
}

extension Meter {
    /// Whether the meter's usage in a period is the sum of what each write stores (COUNT, SUM):
    /// the meters a usage counter can follow.
    public var addsUp: Bool { aggregation == .count || aggregation == .sum }
}
