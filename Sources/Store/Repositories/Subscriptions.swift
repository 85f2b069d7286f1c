import Billing
import Foundation

/// A stored subscription with its place in the customer's timeline.
public struct SubscriptionRecord: Hashable, Sendable {
    public var subscription: Subscription
    public var predecessorId: String?
    public var successorId: String?

    public var id: String { subscription.id }
}

/// Subscriptions and their timeline. The rules they follow are Billing's (`SubscriptionRules`):
/// an implementation reads what the rules need in the transaction that writes the outcome.
public protocol SubscriptionRepository: AnyObject {
    /// Subscriptions, oldest first; of one customer when `customerKey` is given; their plans
    /// looked up in `catalog` (default: the stored one).
    func subscriptions(customerKey: String?, catalog: Catalog?) throws -> [SubscriptionRecord]
    func subscription(id: String) throws -> SubscriptionRecord?
    /// Subscribes a customer to a plan from `start` (default `now`), under `id` when given.
    func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                            start: Instant?, now: Instant, id: String?) throws -> Subscription
    /// Moves a subscription to another plan; returns the subscription in service after it.
    func changeSubscription(id: String, planKey: String, version: Int?, timing: ChangeTiming?,
                            now: Instant) throws -> Subscription
    /// Ends a subscription; returns the moment it ends.
    func cancelSubscription(id: String, timing: ChangeTiming?, now: Instant) throws -> Instant
    /// Takes back a cancellation that has not taken effect.
    func reactivateSubscription(id: String, now: Instant) throws
}

extension SubscriptionRepository {
    public func subscriptions(customerKey: String? = nil) throws -> [SubscriptionRecord] {
        try subscriptions(customerKey: customerKey, catalog: nil)
    }

    public func subscriptions(catalog: Catalog) throws -> [SubscriptionRecord] {
        try subscriptions(customerKey: nil, catalog: catalog)
    }

    public func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                   start: Instant?, now: Instant) throws -> Subscription {
        try createSubscription(customerKey: customerKey, planKey: planKey, version: version, anchor: anchor,
                               start: start, now: now, id: nil)
    }
}
