import Billing
import Foundation
import Store

/// Answers the gateway's questions from the usage segments: how much of a metered feature a
/// subject has used in its current usage period, and whether a request may go through.
public struct Entitlements {
    /// Why a request is refused (the server answers HTTP 403 with this as the problem's detail).
    public enum Denial: Error, Hashable, Sendable, CustomStringConvertible {
        case invalidKey(subject: String)
        /// An API key no customer has, or one revoked: never echoed.
        case unknownAPIKey
        case noSubscription(customer: String)
        case paymentOverdue(reason: String)
        case featureNotInSubscription(feature: String, plan: String)
        case quotaExhausted(feature: String, used: Decimal, limit: Decimal, periodEnd: Instant)

        public var description: String {
            switch self {
            case .invalidKey(let subject): return "invalid key: no customer has the usage key \(subject)"
            case .unknownAPIKey: return "invalid key: the API key is unknown or revoked"
            case .noSubscription(let customer): return "expired subscription: customer \(customer) has no subscription in service"
            case .paymentOverdue(let reason): return "payment overdue: \(reason)"
            case .featureNotInSubscription(let feature, let plan): return "meter not in subscription: plan \(plan) does not include \(feature)"
            case .quotaExhausted(let feature, let used, let limit, let end):
                return "quota exhausted: \(PriceText.grouped(used)) of \(PriceText.grouped(limit)) \(feature) used; it resets at \(end.rfc3339)"
            }
        }
    }

    public enum Decision: Hashable, Sendable {
        /// Allowed; `quota` is the metered entitlement's decision when the feature has one.
        case allowed(QuotaDecision?)
        case denied(Denial)
    }

    /// Usage of one metered feature in the usage period holding `now`.
    public struct Usage: Hashable, Sendable {
        public var subscriptionId: String
        public var period: Period
        public var used: Decimal
        public var entitlement: MeteredEntitlement
    }

    let store: any Store
    let catalog: Catalog
    /// The installation's `maxPaymentOverdueDays`, the grace period's last fallback.
    let maxPaymentOverdueDays: Int?

    public init(store: any Store, maxPaymentOverdueDays: Int? = nil) throws {
        self.store = store
        catalog = try store.catalog()
        self.maxPaymentOverdueDays = maxPaymentOverdueDays
    }

    /// The subscription in service for a subject at `now`, or why there is none.
    func subscription(subject: String, at now: Instant) throws -> Result<(Customer, Subscription), Denial> {
        guard let customerKey = try store.subjectOwners()[subject], let customer = try store.customer(key: customerKey) else {
            return .failure(.invalidKey(subject: subject))
        }
        let subscription = try store.subscriptions(customerKey: customerKey, catalog: catalog).map(\.subscription)
            .last { $0.window(at: now) != nil }
        guard let subscription else { return .failure(.noSubscription(customer: customerKey)) }
        return .success((customer, subscription))
    }

    /// How much of `featureKey` the subject has used in its current usage period; nil when the
    /// feature has no metered entitlement in the subscription's current phase.
    public func usage(subject: String, featureKey: String, at now: Instant) throws -> Usage? {
        guard case .success(let (_, subscription)) = try self.subscription(subject: subject, at: now) else { return nil }
        return try usage(subscription, featureKey: featureKey, at: now)
    }

    func usage(_ subscription: Subscription, featureKey: String, at now: Instant) throws -> Usage? {
        guard let window = subscription.window(at: now),
              let card = window.phase.rateCards.first(where: { $0.featureKey == featureKey }),
              let entitlement = card.meteredEntitlement, let meter = catalog.meter(for: card),
              let period = Quota.usagePeriod(entitlement: entitlement, rateCardCadence: card.billingCadence ?? subscription.plan.billingCadence,
                                             subscriptionAnchor: window.anchor, subscriptionStart: max(subscription.start, window.start), now: now)
        else { return nil }
        let used = try store.quantity(meter: meter, subscriptionId: subscription.id, period: period)
        return Usage(subscriptionId: subscription.id, period: period, used: used, entitlement: entitlement)
    }

    /// Whether a request for `featureKey` by `subject` may go through at `now`: the key, the
    /// subscription, payment access (grace period), the feature, then the quota.
    public func check(subject: String, featureKey: String, requested: Decimal = 1, at now: Instant) throws -> Decision {
        let customer: Customer, subscription: Subscription
        switch try self.subscription(subject: subject, at: now) {
        case .failure(let denial): return .denied(denial)
        case .success(let found): (customer, subscription) = found
        }
        let invoices = try store.invoices(status: nil, withLines: false).filter { $0.customerKey == customer.key }
            .map { InvoicePaymentFacts(id: $0.id, status: $0.status, firstPaymentFailureAt: $0.payment.paymentFailedAt) }
        let grace = PaymentAccess.graceDays(customerMetadata: customer.metadata, planMetadata: subscription.plan.metadata,
                                            installationDefault: maxPaymentOverdueDays)
        if case .blocked(_, let reason) = PaymentAccess.decide(invoices: invoices, graceDays: grace, now: now) {
            return .denied(.paymentOverdue(reason: reason))
        }
        guard let window = subscription.window(at: now), window.phase.rateCards.contains(where: { $0.featureKey == featureKey }) else {
            return .denied(.featureNotInSubscription(feature: featureKey, plan: subscription.plan.key))
        }
        guard let usage = try usage(subscription, featureKey: featureKey, at: now) else { return .allowed(nil) }
        let decision = Quota.decide(entitlement: usage.entitlement, usedInPeriod: usage.used, requested: requested)
        if case .denied(let used, let limit) = decision {
            return .denied(.quotaExhausted(feature: featureKey, used: used, limit: limit, periodEnd: usage.period.end))
        }
        return .allowed(decision)
    }
}
