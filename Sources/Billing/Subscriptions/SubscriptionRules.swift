import Foundation

/// Why a subscription request is refused: a case a caller can switch over, with the message
/// people read.
public enum SubscriptionRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// A customer holds one subscription at a time.
    case anotherInService(customer: String, existing: String, plan: String)
    /// Nothing may take effect at or before the customer's latest closed bill date.
    case billedThrough(customer: String, billed: Instant, what: String, at: Instant)
    /// The plan is priced in another currency than the customer is billed in.
    case currency(String)
    /// A change to the plan and version already in service.
    case samePlan(subscription: String, plan: String, version: Int)
    /// A change that would take effect after the subscription ends.
    case endsBeforeChange(subscription: String, end: Instant, change: Instant)
    /// A subscription changed into a successor is read-only.
    case readOnly(subscription: String, successor: String)
    case alreadyEnded(subscription: String, end: Instant)
    case endedForGood(subscription: String, end: Instant)
    case noPendingCancellation(subscription: String)

    /// The request field at fault, for a refusal of a given value rather than of a state.
    public var field: String? {
        switch self {
        case .currency, .samePlan: return "plan"
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .anotherInService(customer, existing, plan):
            return "customer \(customer) already has subscription \(existing) (plan \(plan)); a customer holds one subscription at a time: change or cancel it"
        case let .billedThrough(customer, billed, what, at):
            return "customer \(customer) is billed through \(billed.rfc3339): \(what) must take effect after that, not at \(at.rfc3339)"
        case let .currency(problem):
            return problem
        case let .samePlan(subscription, plan, version):
            return "subscription \(subscription) is already on plan \(plan) v\(version)"
        case let .endsBeforeChange(subscription, end, change):
            return "subscription \(subscription) ends at \(end) before the change at \(change): reactivate it first"
        case let .readOnly(subscription, successor):
            return "subscription \(subscription) was changed into \(successor) and is read-only: use \(successor)"
        case let .alreadyEnded(subscription, end):
            return "subscription \(subscription) already ended at \(end)"
        case let .endedForGood(subscription, end):
            return "subscription \(subscription) ended at \(end); subscribe the customer again instead"
        case let .noPendingCancellation(subscription):
            return "subscription \(subscription) has no pending cancellation"
        }
    }
}

/// The rules every subscription request follows, whoever asks (the command line, the server, a
/// Checkout completing): one subscription at a time, nothing taking effect in a billed period,
/// the plan in the customer's currency, changes and cancellations only of what is in service.
/// `billedThrough` is the customer's latest closed bill date, if any.
public enum SubscriptionRules {
    /// A new subscription of `customer` to `plan` from `from`, beside its `existing` ones.
    public static func checkNew(customer: String, customerCurrency: Currency?, plan: Plan, from: Instant, existing: [(id: String, subscription: Subscription)],
                                billedThrough: Instant?) throws(SubscriptionRefusal) {
        if let problem = Subscription.currencyProblem(plan: plan, customerKey: customer, customerCurrency: customerCurrency) {
            throw .currency(problem)
        }
        try checkNotBilled(from, customer: customer, billedThrough: billedThrough, what: "a new subscription")
        for (id, other) in existing {
            let end = other.serviceEnd
            if end == other.start { continue }  // cancelled before it began
            if end.map({ $0 > from }) ?? true { throw .anotherInService(customer: customer, existing: id, plan: other.plan.key) }
        }
    }

    /// The instant `subscription` changes to `plan` with `timing` (default: upgrades at once,
    /// downgrades at the next boundary).
    public static func change(_ subscription: Subscription, successorId: String?, to plan: Plan, customerCurrency: Currency?, timing: ChangeTiming?,
                              now: Instant, billedThrough: Instant?) throws(SubscriptionRefusal) -> Instant {
        try checkModifiable(subscription, successorId: successorId)
        if plan.key == subscription.plan.key, plan.version == subscription.plan.version {
            throw .samePlan(subscription: subscription.id, plan: plan.key, version: plan.version)
        }
        if let problem = Subscription.currencyProblem(plan: plan, customerKey: subscription.customerKey,
                                                      customerCurrency: customerCurrency ?? subscription.plan.currency) {
            throw .currency(problem)
        }
        let instant = subscription.changeInstant(to: plan, timing: timing, now: now)
        try checkNotBilled(instant, customer: subscription.customerKey, billedThrough: billedThrough, what: "a plan change")
        if let end = subscription.serviceEnd, instant >= end {
            throw .endsBeforeChange(subscription: subscription.id, end: end, change: instant)
        }
        return instant
    }

    /// The instant access ends when `subscription` is cancelled with `timing` (default immediate).
    public static func cancel(_ subscription: Subscription, successorId: String?, timing: ChangeTiming?, now: Instant,
                              billedThrough: Instant?) throws(SubscriptionRefusal) -> Instant {
        try checkModifiable(subscription, successorId: successorId)
        if let end = subscription.end, end <= now { throw .alreadyEnded(subscription: subscription.id, end: end) }
        let end = subscription.cancellationEnd(timing: timing ?? .immediate, now: now)
        try checkNotBilled(end, customer: subscription.customerKey, billedThrough: billedThrough, what: "a cancellation")
        return end
    }

    /// Whether a pending cancellation of `subscription` may be removed at `now`.
    public static func reactivate(_ subscription: Subscription, successorId: String?, now: Instant) throws(SubscriptionRefusal) {
        try checkModifiable(subscription, successorId: successorId)
        guard subscription.reactivated(at: now) != nil else {
            if let end = subscription.end { throw .endedForGood(subscription: subscription.id, end: end) }
            throw .noPendingCancellation(subscription: subscription.id)
        }
    }

    static func checkModifiable(_ subscription: Subscription, successorId: String?) throws(SubscriptionRefusal) {
        if let successorId { throw .readOnly(subscription: subscription.id, successor: successorId) }
    }

    static func checkNotBilled(_ instant: Instant, customer: String, billedThrough: Instant?, what: String) throws(SubscriptionRefusal) {
        if let billedThrough, instant <= billedThrough {
            throw .billedThrough(customer: customer, billed: billedThrough, what: what, at: instant)
        }
    }
}
