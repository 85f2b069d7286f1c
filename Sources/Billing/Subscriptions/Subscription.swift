import Foundation

/// A customer's subscription to one plan version over `[start, end)`.
///
/// A plan change ends a subscription and starts a successor at the change instant with the
/// same billing anchor; a subscription never changes plan in place. Its phases run one after
/// another from its start (a successor enters the plan's first phase that is not a free trial).
public struct Subscription: Hashable, Sendable {
    public enum Origin: Hashable, Sendable {
        /// A new subscriber: enters the first phase and bills the plan's one-time fees.
        case new
        /// The successor of a plan change: enters the first phase that is not a free trial,
        /// bills no one-time fees, and charges the rest of a cut period as `proration_charge`.
        case change(from: String)
    }

    public let id: String
    public let customerKey: String
    public let plan: Plan
    /// The billing anchor of the first phase entered: periods step from it.
    public let anchor: Instant
    public let start: Instant
    /// The instant access ends, scheduled or past; nil while open.
    public var end: Instant?
    public let origin: Origin

    public init(id: String, customerKey: String, plan: Plan, anchor: Instant? = nil, start: Instant,
                end: Instant? = nil, origin: Origin = .new) {
        precondition(end.map { $0 >= start } ?? true, "subscription \(id) ends before it starts")
        self.id = id
        self.customerKey = customerKey
        self.plan = plan
        self.anchor = anchor ?? start
        self.start = start
        self.end = end
        self.origin = origin
    }

    /// One phase as this subscription lives it: from `start` to `end` (nil = open-ended),
    /// with periods stepping from `anchor`.
    public struct PhaseWindow: Hashable, Sendable {
        public let phase: Phase
        public let start: Instant
        public let end: Instant?
        public let anchor: Instant

        public func contains(_ instant: Instant) -> Bool {
            start <= instant && end.map { instant < $0 } ?? true
        }
    }

    /// The index of the first phase entered.
    var firstPhaseIndex: Int {
        switch origin {
        case .new: return 0
        case .change: return plan.phases.firstIndex { !$0.isFreeTrial } ?? 0
        }
    }

    /// The phases this subscription passes through, in order, up to its end. The first phase
    /// keeps the subscription's anchor; each later phase's periods step from its own start.
    public var phaseWindows: [PhaseWindow] {
        var windows: [PhaseWindow] = []
        var phaseStart = start
        for index in firstPhaseIndex..<plan.phases.count {
            if let end, phaseStart >= end, !windows.isEmpty { break }
            let phase = plan.phases[index]
            let phaseEnd = phase.duration.map { $0.adding(times: 1, to: phaseStart) }
            windows.append(PhaseWindow(phase: phase, start: phaseStart, end: phaseEnd,
                                       anchor: windows.isEmpty ? anchor : phaseStart))
            guard let phaseEnd else { break }
            phaseStart = phaseEnd
        }
        return windows
    }

    /// The end of service: the subscription's end or, for a plan whose last phase has a
    /// duration, the end of that phase, whichever is first.
    public var serviceEnd: Instant? {
        let planEnd = phaseWindows.last?.end
        switch (end, planEnd) {
        case let (e?, p?): return min(e, p)
        case let (e?, nil): return e
        case let (nil, p?): return p
        case (nil, nil): return nil
        }
    }

    /// The phase window in effect at `instant`, if the subscription is in service then.
    public func window(at instant: Instant) -> PhaseWindow? {
        guard instant >= start, serviceEnd.map({ instant < $0 }) ?? true else { return nil }
        return phaseWindows.last { $0.contains(instant) }
    }

    /// The plan's billing schedule in `window`.
    func billingSchedule(in window: PhaseWindow) -> PeriodSchedule {
        PeriodSchedule(anchor: window.anchor, cadence: plan.billingCadence)
    }

    /// The billing anchor a successor keeps when this subscription changes plan at `instant`.
    public func billingAnchor(at instant: Instant) -> Instant {
        (window(at: instant) ?? phaseWindows.last { $0.start <= instant })?.anchor ?? anchor
    }

    /// The first billing boundary strictly after `instant` (a phase end counts as one).
    public func nextBoundary(after instant: Instant) -> Instant {
        guard let window = window(at: instant) ?? phaseWindows.last(where: { $0.start <= instant }) else {
            return PeriodSchedule(anchor: anchor, cadence: plan.billingCadence).nextBoundary(after: instant)
        }
        let next = billingSchedule(in: window).nextBoundary(after: instant)
        if let phaseEnd = window.end, phaseEnd < next { return phaseEnd }
        return next
    }

    /// The bill date that holds the in-arrears lines of the period in which service ends: the
    /// boundary at or after the service end. nil while open.
    public var finalBillDate: Instant? {
        guard let serviceEnd else { return nil }
        guard serviceEnd > start else { return start }
        return nextBoundary(after: serviceEnd + -1)
    }

    /// Every bill date of this subscription in `(after, through]`: its start, its billing
    /// boundaries and phase ends while in service, and the final bill date.
    public func billDates(after: Instant?, through: Instant) -> [Instant] {
        var dates: [Instant] = []
        func add(_ date: Instant) {
            if let after, date <= after { return }
            if date > through { return }
            if let last = finalBillDate, date > last { return }
            if dates.last != date { dates.append(date) }
        }
        add(start)
        var cursor = start
        while cursor <= through {
            if let last = finalBillDate, cursor >= last { break }
            cursor = nextBoundary(after: cursor)
            add(cursor)
        }
        return dates
    }

    /// Status at `now`, computed from the active window.
    public func status(at now: Instant) -> SubscriptionStatus {
        if now < start { return .scheduled }
        guard let end = serviceEnd else { return .active }
        return now < end ? (self.end == nil ? .active : .canceled) : .inactive
    }

    /// True when every phase the subscription can still be in bills nothing: a free plan or
    /// a free trial at `instant`, which cancels at once.
    public func isFree(at instant: Instant) -> Bool {
        window(at: instant)?.phase.isFreeTrial ?? true
    }
}

public enum SubscriptionStatus: String, Hashable, Sendable, CaseIterable {
    case scheduled
    case active
    /// Still active, but an end is set.
    case canceled
    case inactive
}

/// When a change or cancellation takes effect.
public enum ChangeTiming: Hashable, Sendable {
    case immediate
    case nextBillingCycle
    case at(Instant)

    /// Parses `immediate`, `next_billing_cycle` or an RFC 3339 time.
    public init?(_ text: String) {
        switch text {
        case "immediate": self = .immediate
        case "next_billing_cycle": self = .nextBillingCycle
        default:
            guard let instant = Instant(rfc3339: text) else { return nil }
            self = .at(instant)
        }
    }
}

extension Subscription {
    /// The instant a cancellation typed at `now` with `timing` ends access. Free plans and
    /// free trial phases cancel at once whatever the timing.
    public func cancellationEnd(timing: ChangeTiming, now: Instant) -> Instant {
        let from = max(now, start)
        switch timing {
        case .immediate: return from
        case .nextBillingCycle: return isFree(at: from) ? from : nextBoundary(after: from)
        case .at(let instant): return max(instant, start)
        }
    }

    /// The sum of recurring in-advance fees per billing period of a phase: what decides whether
    /// a change is an upgrade.
    static func recurringAdvanceFees(_ phase: Phase) -> Decimal {
        phase.rateCards.reduce(Decimal(0)) { sum, card in
            guard card.billingCadence != nil, case .flat(let amount, .inAdvance)? = card.price else { return sum }
            return sum + amount
        }
    }

    /// A change is an upgrade when the recurring in-advance fees of the phase it enters are at
    /// least as high as those of the phase it leaves.
    public func isUpgrade(to plan: Plan, at instant: Instant) -> Bool {
        let leaving = window(at: instant)?.phase ?? self.plan.phases[firstPhaseIndex]
        let entering = plan.phases.first { !$0.isFreeTrial } ?? plan.phases[0]
        return Subscription.recurringAdvanceFees(entering) >= Subscription.recurringAdvanceFees(leaving)
    }

    /// The change instant for `timing` typed at `now`: an upgrade is immediate by default, a
    /// downgrade waits for the next billing boundary.
    public func changeInstant(to plan: Plan, timing: ChangeTiming?, now: Instant) -> Instant {
        let from = max(now, start)
        switch timing ?? (isUpgrade(to: plan, at: from) ? .immediate : .nextBillingCycle) {
        case .immediate: return from
        case .nextBillingCycle: return nextBoundary(after: from)
        case .at(let instant): return max(instant, start)
        }
    }
}

extension Subscription {
    /// This subscription with its pending end removed, or nil when there is nothing to
    /// reactivate: no end is set, or it has already passed at `now`.
    public func reactivated(at now: Instant) -> Subscription? {
        guard let end, end > now else { return nil }
        var result = self
        result.end = nil
        return result
    }

    /// The first boundary of the billing anchor strictly after `instant`, stepping on past the
    /// end of service: the bill date of late usage that arrives after a customer's last
    /// subscription has ended.
    public func anchorBoundary(after instant: Instant) -> Instant {
        let window = phaseWindows.last { $0.start <= instant } ?? phaseWindows[0]
        return billingSchedule(in: window).nextBoundary(after: instant)
    }

    /// Why `plan` cannot be subscribed by a customer billed in `customerCurrency`, or nil.
    public static func currencyProblem(plan: Plan, customerKey: String, customerCurrency: Currency?) -> String? {
        guard let customerCurrency, customerCurrency != plan.currency else { return nil }
        return "plan \(plan.key) v\(plan.version) is priced in \(plan.currency.code) but customer \(customerKey) is billed in \(customerCurrency.code): choose a plan in \(customerCurrency.code)"
    }
}
