import Foundation

/// The segment window of a subscription around an instant: from the latest boundary at or
/// before it (subscription start, phase start, a billing period of the plan or a rate card, a
/// usage period of a metered entitlement, and UTC midnight in a phase with a quota) to the next
/// one. Cutting at midnight makes each UTC day's usage exact (the usage page's daily chart).
public struct SegmentWindows {
    public let span: Period

    public init(subscription: Subscription, containing time: Instant) {
        var start = subscription.start
        var end = subscription.serviceEnd ?? Instant(seconds: Int64.max / 2)
        if let window = subscription.phaseWindows.last(where: { $0.contains(time) }) {
            start = max(start, window.start)
            if let phaseEnd = window.end { end = min(end, phaseEnd) }
            // A phase with a quota shows its usage per UTC day (the usage page's chart): its
            // windows end at midnight. Others keep period-long windows, far fewer rows when a
            // customer has few events a day.
            if window.phase.rateCards.contains(where: { $0.meteredEntitlement != nil }) {
                let day: Int64 = 86_400
                let midnight = (time.seconds >= 0 ? time.seconds : time.seconds - day + 1) / day * day
                start = max(start, Instant(seconds: midnight))
                end = min(end, Instant(seconds: midnight + day))
            }
            var cadences = [subscription.plan.billingCadence]
            for card in window.phase.rateCards {
                if let cadence = card.billingCadence { cadences.append(cadence) }
                if let period = card.meteredEntitlement?.usagePeriod { cadences.append(period) }
            }
            for cadence in Set(cadences) {
                let period = PeriodSchedule(anchor: window.anchor, cadence: cadence).period(containing: time)
                start = max(start, period.start)
                end = min(end, period.end)
            }
        }
        span = Period(start: start, end: max(start, end))
    }
}
