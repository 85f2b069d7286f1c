import Billing
import Foundation

extension SQLRepositories {
    // MARK: Reading

    /// Subscriptions, oldest first; of one customer when `customerKey` is given.
    public func subscriptions(customerKey: String?, catalog: Catalog?) throws -> [SubscriptionRecord] {
        let catalog = try catalog ?? self.catalog()
        var plans: [String: Plan] = [:]
        for plan in catalog.plans { plans["\(plan.key)@\(plan.version)"] = plan }
        let sql = """
            SELECT id, customer_key, plan_key, plan_version, anchor, start, "end", predecessor_id, successor_id
            FROM subscriptions \(customerKey == nil ? "" : "WHERE customer_key = ?") ORDER BY start, created_at, id
            """
        return try connection.query(sql, customerKey.map { [.text($0)] } ?? []).map { try subscriptionRecord($0, plans: plans) }
    }

    /// A row of (id, customer, plan key, plan version, anchor, start, end, predecessor, successor).
    func subscriptionRecord(_ row: Row, plans: [String: Plan]) throws -> SubscriptionRecord {
        let key = "\(row.string(2) ?? "")@\(row.int(3) ?? 0)"
        guard let plan = plans[key] else { throw StoreInputError("subscription \(row.string(0) ?? ""): plan \(key) is missing") }
        let predecessor = row.string(7)
        let subscription = Subscription(id: row.string(0) ?? "", customerKey: row.string(1) ?? "", plan: plan,
                                        anchor: row.instant(4), start: row.instant(5) ?? Instant(seconds: 0),
                                        end: row.instant(6), origin: predecessor.map { .change(from: $0) } ?? .new)
        return SubscriptionRecord(subscription: subscription, predecessorId: predecessor, successorId: row.string(8))
    }

    public func subscription(id: String) throws -> SubscriptionRecord? {
        guard let customer = try connection.first("SELECT customer_key FROM subscriptions WHERE id = ?", [.text(id)])?.string(0) else { return nil }
        return try subscriptions(customerKey: customer).first { $0.id == id }
    }

    // MARK: Commands

    /// The catalog's plan `key` at `version` (default: the latest); refused, naming the field,
    /// when there is none.
    public func plan(key: String, version: Int?) throws -> Plan {
        try catalog().requiredPlan(key, version: version)
    }


    func insert(_ subscription: Subscription, predecessor: String?, at now: Instant) throws {
        try connection.run("""
            INSERT INTO subscriptions (id, customer_key, plan_key, plan_version, anchor, start, "end", predecessor_id, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(subscription.id), .text(subscription.customerKey), .text(subscription.plan.key),
                  .integer(Int64(subscription.plan.version)), subscription.anchor.sql, subscription.start.sql,
                  SQLValue(subscription.end?.seconds), SQLValue(predecessor), now.sql, now.sql])
    }

    /// Subscribes a customer to a plan from `start` (default `now`). One subscription at a time:
    /// refused while another is in service or scheduled after `start`.
    public func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                   start: Instant?, now: Instant, id: String?) throws -> Subscription {
        try transaction {
            let from = start ?? now
            let plan = try planForNewSubscription(customerKey: customerKey, planKey: planKey, version: version, from: from)
            let subscription = Subscription(id: id ?? Identifier.make("sub"), customerKey: customerKey, plan: plan,
                                            anchor: anchor ?? from, start: from)
            try insert(subscription, predecessor: nil, at: now)
            return subscription
        }
    }

    /// The plan a new subscription of `customerKey` from `from` would be on, once the customer
    /// and plan are found and `SubscriptionRules.checkNew` passes.
    func planForNewSubscription(customerKey: String, planKey: String, version: Int?, from: Instant) throws -> Plan {
        guard let customer = try customer(key: customerKey) else {
            throw StoreInputError("no customer \(customerKey): import it with `tollbooth customers import`", kind: .notFound)
        }
        let catalog = try self.catalog()
        let plan = try catalog.requiredPlan(planKey, version: version)
        let existing = try subscriptions(customerKey: customerKey, catalog: catalog).map { (id: $0.id, subscription: $0.subscription) }
        try refusing {
            try SubscriptionRules.checkNew(customer: customerKey, customerCurrency: customer.currency, plan: plan, from: from, existing: existing,
                                           billedThrough: try billedThrough(customerKey: customerKey))
        }
        return plan
    }

    /// The customer's latest closed bill date: its invoice for that date is made, so nothing
    /// may take effect at or before it.
    func billedThrough(customerKey: String) throws -> Instant? {
        try connection.first("SELECT max(bill_date) FROM period_closes WHERE customer_key = ?", [.text(customerKey)])?.instant(0)
    }

    /// Runs `body`, a refusal of Billing's subscription rules becoming the store's refusal:
    /// of a state (409) or of a given value (422 on its field).
    func refusing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let refusal as SubscriptionRefusal {
            throw StoreInputError(refusal.description, kind: refusal.field.map { .invalid($0) } ?? .conflict)
        }
    }

    func record(_ id: String) throws -> SubscriptionRecord {
        guard let record = try subscription(id: id) else { throw StoreInputError("no subscription \(id)", kind: .notFound) }
        return record
    }

    /// Changes plan at the instant `timing` gives (default: upgrades at once, downgrades at the
    /// next boundary): the subscription ends there and a successor with the same anchor starts.
    /// A pending cancellation moves to the successor.
    public func changeSubscription(id: String, planKey: String, version: Int?, timing: ChangeTiming?,
                                   now: Instant) throws -> Subscription {
        try transaction {
            let record = try record(id)
            let old = record.subscription
            let plan = try catalog().requiredPlan(planKey, version: version)
            let currency = try customer(key: old.customerKey)?.currency
            let instant = try refusing {
                try SubscriptionRules.change(old, successorId: record.successorId, to: plan, customerCurrency: currency, timing: timing, now: now,
                                             billedThrough: try billedThrough(customerKey: old.customerKey))
            }
            let successor = Subscription(id: Identifier.make("sub"), customerKey: old.customerKey, plan: plan,
                                         anchor: old.billingAnchor(at: instant), start: instant,
                                         end: old.end, origin: .change(from: old.id))
            try insert(successor, predecessor: old.id, at: now)
            try connection.run("UPDATE subscriptions SET \"end\" = ?, successor_id = ?, updated_at = ? WHERE id = ?",
                             [instant.sql, .text(successor.id), now.sql, .text(old.id)])
            return successor
        }
    }

    /// Cancels with `timing` (default immediate); returns the instant access ends.
    public func cancelSubscription(id: String, timing: ChangeTiming?, now: Instant) throws -> Instant {
        try transaction {
            let record = try record(id)
            let end = try refusing {
                try SubscriptionRules.cancel(record.subscription, successorId: record.successorId, timing: timing, now: now,
                                             billedThrough: try billedThrough(customerKey: record.subscription.customerKey))
            }
            try connection.run("UPDATE subscriptions SET \"end\" = ?, updated_at = ? WHERE id = ?", [end.sql, now.sql, .text(id)])
            return end
        }
    }

    /// Removes a pending cancellation.
    public func reactivateSubscription(id: String, now: Instant) throws {
        try transaction {
            let record = try record(id)
            try refusing { try SubscriptionRules.reactivate(record.subscription, successorId: record.successorId, now: now) }
            try connection.run("UPDATE subscriptions SET \"end\" = NULL, updated_at = ? WHERE id = ?", [now.sql, .text(id)])
        }
    }
}
