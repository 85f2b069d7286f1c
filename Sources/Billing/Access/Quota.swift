import Foundation

/// Whether a metered entitlement lets a request through.
public enum QuotaDecision: Hashable, Sendable {
    /// Within quota; `remaining` is what is left after this request (never below zero).
    case allowed(remaining: Decimal)
    /// Soft limit exceeded: allowed and billed; `over` is the usage beyond the quota once this
    /// request is counted.
    case overage(over: Decimal)
    /// Hard limit reached before this request.
    case denied(used: Decimal, limit: Decimal)
}

/// Quota checks for metered entitlements.
public enum Quota {
    /// A hard limit denies once the usage already counted in the usage period reaches
    /// `issueAfterReset` (used >= limit). A request is judged on the usage before it, so while
    /// used < limit it is allowed even when it takes usage past the limit: the gateway cannot
    /// serve part of a request, and the usage it reports is billed as metered. A soft limit
    /// always allows, reporting the overage when used + requested exceeds the quota.
    /// A negative `requested` counts as zero.
    public static func decide(entitlement: MeteredEntitlement, usedInPeriod: Decimal,
                              requested: Decimal = 1) -> QuotaDecision {
        let limit = entitlement.issueAfterReset
        let after = usedInPeriod + max(0, requested)
        if entitlement.isSoftLimit {
            return after > limit ? .overage(over: after - limit) : .allowed(remaining: limit - after)
        }
        guard usedInPeriod < limit else { return .denied(used: usedInPeriod, limit: limit) }
        return .allowed(remaining: max(0, limit - after))
    }

    /// The usage period holding `now`: periods of `entitlement.usagePeriod` (or the rate card's
    /// cadence) stepping from the subscription's billing anchor, the first one cut to start at
    /// the subscription's start, because tiers and quota restart on a plan change.
    ///
    /// - Returns: nil when `now` is before the subscription starts, or the cadence is zero.
    public static func usagePeriod(entitlement: MeteredEntitlement, rateCardCadence: ISODuration,
                                   subscriptionAnchor: Instant, subscriptionStart: Instant,
                                   now: Instant) -> Period? {
        let cadence = entitlement.usagePeriod ?? rateCardCadence
        guard !cadence.isZero, now >= subscriptionStart else { return nil }
        let whole = PeriodSchedule(anchor: subscriptionAnchor, cadence: cadence).period(containing: now)
        return Period(start: max(whole.start, subscriptionStart), end: whole.end)
    }
}
