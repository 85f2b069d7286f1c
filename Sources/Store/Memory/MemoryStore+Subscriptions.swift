import Billing
import Foundation

// Subscriptions and subscriptions waiting for Checkout, as `SQLiteSubscription` and
// `SQLiteSubscriptionRequest` keep them: Billing's `SubscriptionRules` decide, reading the same
// inputs in the call that writes the outcome.

extension MemoryStore {
    public func subscriptions(customerKey: String?, catalog: Catalog?) throws -> [SubscriptionRecord] {
        try read { try $0.subscriptionRecords(customerKey: customerKey, catalog: catalog ?? $0.catalog()) }
    }

    public func subscription(id: String) throws -> SubscriptionRecord? {
        try read { try $0.subscriptionRecord(id: id) }
    }

    public func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                   start: Instant?, now: Instant, id: String?) throws -> Subscription {
        try write { try $0.createSubscription(customerKey: customerKey, planKey: planKey, version: version, anchor: anchor,
                                              start: start, now: now, id: id) }
    }

    public func changeSubscription(id: String, planKey: String, version: Int?, timing: ChangeTiming?,
                                   now: Instant) throws -> Subscription {
        try write { state in
            let record = try state.record(id)
            let old = record.subscription
            let plan = try state.catalog().requiredPlan(planKey, version: version)
            let currency = state.customers[old.customerKey]?.customer.currency
            let instant = try MemoryState.refusing {
                try SubscriptionRules.change(old, successorId: record.successorId, to: plan, customerCurrency: currency, timing: timing, now: now,
                                             billedThrough: state.billedThrough(customerKey: old.customerKey))
            }
            let successor = Subscription(id: Identifier.make("sub"), customerKey: old.customerKey, plan: plan,
                                         anchor: old.billingAnchor(at: instant), start: instant,
                                         end: old.end, origin: .change(from: old.id))
            try state.insert(successor, predecessor: old.id, at: now)
            try state.updateSubscription(old.id, at: now) {
                $0.end = instant
                $0.successorId = successor.id
            }
            return successor
        }
    }

    public func cancelSubscription(id: String, timing: ChangeTiming?, now: Instant) throws -> Instant {
        try write { state in
            let record = try state.record(id)
            let end = try MemoryState.refusing {
                try SubscriptionRules.cancel(record.subscription, successorId: record.successorId, timing: timing, now: now,
                                             billedThrough: state.billedThrough(customerKey: record.subscription.customerKey))
            }
            try state.updateSubscription(id, at: now) { $0.end = end }
            return end
        }
    }

    public func reactivateSubscription(id: String, now: Instant) throws {
        try write { state in
            let record = try state.record(id)
            try MemoryState.refusing { try SubscriptionRules.reactivate(record.subscription, successorId: record.successorId, now: now) }
            try state.updateSubscription(id, at: now) { $0.end = nil }
        }
    }

    // MARK: Subscription requests

    public func insertSubscriptionRequest(id: String, customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                          now: Instant) throws -> SubscriptionRequest {
        try write { state in
            let plan = try state.planForNewSubscription(customerKey: customerKey, planKey: planKey, version: version, from: now)
            for (key, row) in state.requests where row.request.customerKey == customerKey && row.request.status == .pendingPayment {
                state.requests[key]?.request.status = .expired
                state.requests[key]?.request.failure = "superseded by \(id)"
                state.requests[key]?.updatedAt = now
            }
            guard state.requests[id] == nil else { throw Constraint.primaryKey("subscription_requests.id") }
            let request = SubscriptionRequest(id: id, customerKey: customerKey, planKey: plan.key, planVersion: plan.version, anchor: anchor,
                                              status: .pendingPayment, createdAt: now)
            state.requests[id] = RequestRow(request: request, updatedAt: now)
            return request
        }
    }

    public func recordCheckout(requestId: String, sessionId: String, url: String, expiresAt: Instant?, at now: Instant) throws {
        try write { state in
            guard state.requests[requestId] != nil else { return }
            if state.requests.contains(where: { $0.key != requestId && $0.value.request.checkoutSessionId == sessionId }) {
                throw Constraint.unique("subscription_requests.checkout_session_id")
            }
            state.requests[requestId]?.request.checkoutSessionId = sessionId
            state.requests[requestId]?.request.checkoutUrl = url
            state.requests[requestId]?.request.checkoutExpiresAt = expiresAt
            state.requests[requestId]?.updatedAt = now
        }
    }

    public func subscriptionRequest(id: String) throws -> SubscriptionRequest? { read { $0.requests[id]?.request } }

    public func subscriptionRequest(checkoutSessionId: String) throws -> SubscriptionRequest? {
        read { $0.requests.values.first { $0.request.checkoutSessionId == checkoutSessionId }?.request }
    }

    public func startSubscriptionRequest(id: String, start: Instant, apiKey: (id: String, digest: String, last4: String, secret: String)?,
                                         now: Instant) throws -> Subscription? {
        try write { state in
            guard let request = state.requests[id]?.request, request.status == .pendingPayment else { return nil }
            let subscription = try state.createSubscription(customerKey: request.customerKey, planKey: request.planKey,
                                                            version: request.planVersion, anchor: request.anchor, start: start,
                                                            now: now, id: request.id)
            if let apiKey {
                try state.insertAPIKey(id: apiKey.id, customerKey: request.customerKey, digest: apiKey.digest, last4: apiKey.last4, at: now)
            }
            state.requests[id]?.request.status = .started
            state.requests[id]?.request.apiKeyId = apiKey?.id
            state.requests[id]?.apiKeySecret = apiKey?.secret
            state.requests[id]?.updatedAt = now
            return subscription
        }
    }

    public func endSubscriptionRequest(id: String, status: SubscriptionRequest.Status, reason: String, at now: Instant) throws {
        try write { state in
            guard state.requests[id]?.request.status == .pendingPayment else { return }
            state.requests[id]?.request.status = status
            state.requests[id]?.request.failure = reason
            state.requests[id]?.updatedAt = now
        }
    }

    public func takeRequestedAPIKeySecret(requestId: String) throws -> String? {
        try write { state in
            let secret = state.requests[requestId]?.apiKeySecret
            if secret != nil { state.requests[requestId]?.apiKeySecret = nil }
            return secret
        }
    }
}

extension MemoryState {
    /// A customer's subscription rows in SQLite's order: start, then creation, then id.
    func subscriptionRows(customerKey: String?) -> [SubscriptionRow] {
        subscriptions.values.filter { customerKey == nil || $0.customerKey == customerKey }.sorted {
            if $0.start != $1.start { return $0.start < $1.start }
            if $0.createdAt != $1.createdAt { return $0.createdAt < $1.createdAt }
            return $0.id.sqlPrecedes($1.id)
        }
    }

    func subscriptionRecords(customerKey: String?, catalog: Catalog) throws -> [SubscriptionRecord] {
        var plans: [String: Plan] = [:]
        for plan in catalog.plans { plans["\(plan.key)@\(plan.version)"] = plan }
        return try subscriptionRows(customerKey: customerKey).map { row in
            let key = "\(row.planKey)@\(row.planVersion)"
            guard let plan = plans[key] else { throw StoreInputError("subscription \(row.id): plan \(key) is missing") }
            let subscription = Subscription(id: row.id, customerKey: row.customerKey, plan: plan, anchor: row.anchor, start: row.start,
                                            end: row.end, origin: row.predecessorId.map { .change(from: $0) } ?? .new)
            return SubscriptionRecord(subscription: subscription, predecessorId: row.predecessorId, successorId: row.successorId)
        }
    }

    func subscriptionRecord(id: String) throws -> SubscriptionRecord? {
        guard let customer = subscriptions[id]?.customerKey else { return nil }
        return try subscriptionRecords(customerKey: customer, catalog: catalog()).first { $0.id == id }
    }

    func record(_ id: String) throws -> SubscriptionRecord {
        guard let record = try subscriptionRecord(id: id) else { throw StoreInputError("no subscription \(id)", kind: .notFound) }
        return record
    }

    /// The customer's latest closed bill date: nothing may take effect at or before it.
    func billedThrough(customerKey: String) -> Instant? {
        closes.values.lazy.filter { $0.customerKey == customerKey }.map(\.billDate).max()
    }

    /// A refusal of Billing's subscription rules becoming the store's refusal, as in SQLite.
    static func refusing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let refusal as SubscriptionRefusal {
            throw StoreInputError(refusal.description, kind: refusal.field.map { .invalid($0) } ?? .conflict)
        }
    }

    func planForNewSubscription(customerKey: String, planKey: String, version: Int?, from: Instant) throws -> Plan {
        guard let customer = customers[customerKey]?.customer else {
            throw StoreInputError("no customer \(customerKey): import it with `tollbooth customers import`", kind: .notFound)
        }
        let catalog = catalog()
        let plan = try catalog.requiredPlan(planKey, version: version)
        let existing = try subscriptionRecords(customerKey: customerKey, catalog: catalog).map { (id: $0.id, subscription: $0.subscription) }
        try MemoryState.refusing {
            try SubscriptionRules.checkNew(customer: customerKey, customerCurrency: customer.currency, plan: plan, from: from, existing: existing,
                                           billedThrough: billedThrough(customerKey: customerKey))
        }
        return plan
    }

    mutating func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                     start: Instant?, now: Instant, id: String?) throws -> Subscription {
        let from = start ?? now
        let plan = try planForNewSubscription(customerKey: customerKey, planKey: planKey, version: version, from: from)
        let subscription = Subscription(id: id ?? Identifier.make("sub"), customerKey: customerKey, plan: plan,
                                        anchor: anchor ?? from, start: from)
        try insert(subscription, predecessor: nil, at: now)
        return subscription
    }

    mutating func insert(_ subscription: Subscription, predecessor: String?, at now: Instant) throws {
        guard subscriptions[subscription.id] == nil else { throw Constraint.primaryKey("subscriptions.id") }
        try Constraint.reference(customers[subscription.customerKey] != nil
                                 && plans[PlanKey(key: subscription.plan.key, version: subscription.plan.version)] != nil
                                 && predecessor.map { subscriptions[$0] != nil } ?? true)
        if let end = subscription.end, end < subscription.start { throw Constraint.check("\"end\" IS NULL OR \"end\" >= start") }
        subscriptions[subscription.id] = SubscriptionRow(
            id: subscription.id, customerKey: subscription.customerKey, planKey: subscription.plan.key,
            planVersion: subscription.plan.version, anchor: subscription.anchor, start: subscription.start, end: subscription.end,
            predecessorId: predecessor, createdAt: now, updatedAt: now)
        bump("attribution")
    }

    mutating func updateSubscription(_ id: String, at now: Instant, _ change: (inout SubscriptionRow) -> Void) throws {
        guard var row = subscriptions[id] else { return }
        change(&row)
        if let end = row.end, end < row.start { throw Constraint.check("\"end\" IS NULL OR \"end\" >= start") }
        row.updatedAt = now
        subscriptions[id] = row
        bump("attribution")
    }
}
