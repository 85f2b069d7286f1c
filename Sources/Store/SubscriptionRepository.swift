import Billing
import Foundation

/// A stored subscription with its place in the customer's timeline.
public struct SubscriptionRecord: Hashable, Sendable {
    public var subscription: Subscription
    public var predecessorId: String?
    public var successorId: String?

    public var id: String { subscription.id }
}

extension Store {
    // MARK: Reading

    /// Subscriptions, oldest first; of one customer when `customerKey` is given.
    public func subscriptions(customerKey: String? = nil, catalog: Catalog? = nil) throws -> [SubscriptionRecord] {
        let catalog = try catalog ?? self.catalog()
        var plans: [String: Plan] = [:]
        for plan in catalog.plans { plans["\(plan.key)@\(plan.version)"] = plan }
        let sql = """
            SELECT id, customer_key, plan_key, plan_version, anchor, start, "end", predecessor_id, successor_id
            FROM subscriptions \(customerKey == nil ? "" : "WHERE customer_key = ?") ORDER BY start, created_at, id
            """
        return try database.query(sql, customerKey.map { [.text($0)] } ?? []).map { row in
            let key = "\(row.string(2) ?? "")@\(row.int(3) ?? 0)"
            guard let plan = plans[key] else { throw StoreInputError("subscription \(row.string(0) ?? ""): plan \(key) is missing") }
            let predecessor = row.string(7)
            let subscription = Subscription(id: row.string(0) ?? "", customerKey: row.string(1) ?? "", plan: plan,
                                            anchor: row.instant(4), start: row.instant(5) ?? Instant(seconds: 0),
                                            end: row.instant(6), origin: predecessor.map { .change(from: $0) } ?? .new)
            return SubscriptionRecord(subscription: subscription, predecessorId: predecessor, successorId: row.string(8))
        }
    }

    public func subscription(id: String) throws -> SubscriptionRecord? {
        guard let customer = try database.first("SELECT customer_key FROM subscriptions WHERE id = ?", [.text(id)])?.string(0) else { return nil }
        return try subscriptions(customerKey: customer).first { $0.id == id }
    }

    // MARK: Commands

    func plan(_ key: String, version: Int?, in catalog: Catalog) throws -> Plan {
        guard let plan = catalog.plan(key: key, version: version) else {
            if let version, catalog.plan(key: key) != nil { throw StoreInputError("plan \(key) has no version \(version)", kind: .invalid("version")) }
            throw StoreInputError("no plan \(key) in the catalog: import it with `tollbooth catalog import`", kind: .invalid("plan"))
        }
        return plan
    }

    func insert(_ subscription: Subscription, predecessor: String?, at now: Instant) throws {
        try database.run("""
            INSERT INTO subscriptions (id, customer_key, plan_key, plan_version, anchor, start, "end", predecessor_id, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(subscription.id), .text(subscription.customerKey), .text(subscription.plan.key),
                  .integer(Int64(subscription.plan.version)), subscription.anchor.sql, subscription.start.sql,
                  SQLValue(subscription.end?.seconds), SQLValue(predecessor), now.sql, now.sql])
    }

    /// Subscribes a customer to a plan from `start` (default `now`). One subscription at a time:
    /// refused while another is in service or scheduled after `start`.
    public func createSubscription(customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                   start: Instant?, now: Instant, id: String? = nil) throws -> Subscription {
        try transaction {
            let from = start ?? now
            let plan = try planForNewSubscription(customerKey: customerKey, planKey: planKey, version: version, from: from)
            let subscription = Subscription(id: id ?? Identifier.make("sub"), customerKey: customerKey, plan: plan,
                                            anchor: anchor ?? from, start: from)
            try insert(subscription, predecessor: nil, at: now)
            return subscription
        }
    }

    /// The plan a new subscription of `customerKey` from `from` would be on, after the rules a new
    /// subscription must pass: the customer exists, the plan exists in its currency, nothing
    /// takes effect in a billed period, and no other subscription is in service or scheduled
    /// after `from`.
    func planForNewSubscription(customerKey: String, planKey: String, version: Int?, from: Instant) throws -> Plan {
        guard let customer = try customer(key: customerKey) else {
            throw StoreInputError("no customer \(customerKey): import it with `tollbooth customers import`", kind: .notFound)
        }
        let catalog = try self.catalog()
        let plan = try plan(planKey, version: version, in: catalog)
        if let problem = Subscription.currencyProblem(plan: plan, customerKey: customerKey, customerCurrency: customer.currency) {
            throw StoreInputError(problem, kind: .invalid("plan"))
        }
        try refuseBeforeBilled(from, customerKey: customerKey, what: "a new subscription")
        for existing in try subscriptions(customerKey: customerKey, catalog: catalog) {
            let end = existing.subscription.serviceEnd
            if end == existing.subscription.start { continue }  // cancelled before it began
            if end.map({ $0 > from }) ?? true {
                throw StoreInputError("customer \(customerKey) already has subscription \(existing.id) (plan \(existing.subscription.plan.key)); a customer holds one subscription at a time: change or cancel it",
                                      kind: .conflict)
            }
        }
        return plan
    }

    /// The customer's latest closed bill date: its invoice for that date is made, so nothing
    /// may take effect at or before it.
    func billedThrough(customerKey: String) throws -> Instant? {
        try database.first("SELECT max(bill_date) FROM period_closes WHERE customer_key = ?", [.text(customerKey)])?.instant(0)
    }

    func refuseBeforeBilled(_ instant: Instant, customerKey: String, what: String) throws {
        if let billed = try billedThrough(customerKey: customerKey), instant <= billed {
            throw StoreInputError("customer \(customerKey) is billed through \(billed.rfc3339): \(what) must take effect after that, not at \(instant.rfc3339)",
                                  kind: .conflict)
        }
    }

    func modifiable(_ id: String) throws -> SubscriptionRecord {
        guard let record = try subscription(id: id) else { throw StoreInputError("no subscription \(id)", kind: .notFound) }
        if let successor = record.successorId {
            throw StoreInputError("subscription \(id) was changed into \(successor) and is read-only: use \(successor)", kind: .conflict)
        }
        return record
    }

    /// Changes plan at the instant `timing` gives (default: upgrades at once, downgrades at the
    /// next boundary): the subscription ends there and a successor with the same anchor starts.
    /// A pending cancellation moves to the successor.
    public func changeSubscription(id: String, planKey: String, version: Int?, timing: ChangeTiming?,
                                   now: Instant) throws -> Subscription {
        try transaction {
            let record = try modifiable(id)
            let old = record.subscription
            let plan = try plan(planKey, version: version, in: catalog())
            if plan.key == old.plan.key, plan.version == old.plan.version {
                throw StoreInputError("subscription \(id) is already on plan \(plan.key) v\(plan.version)", kind: .invalid("plan"))
            }
            let customer = try customer(key: old.customerKey)
            if let problem = Subscription.currencyProblem(plan: plan, customerKey: old.customerKey, customerCurrency: customer?.currency ?? old.plan.currency) {
                throw StoreInputError(problem)
            }
            let instant = old.changeInstant(to: plan, timing: timing, now: now)
            try refuseBeforeBilled(instant, customerKey: old.customerKey, what: "a plan change")
            if let end = old.serviceEnd, instant >= end {
                throw StoreInputError("subscription \(id) ends at \(end) before the change at \(instant): reactivate it first", kind: .conflict)
            }
            let successor = Subscription(id: Identifier.make("sub"), customerKey: old.customerKey, plan: plan,
                                         anchor: old.billingAnchor(at: instant), start: instant,
                                         end: old.end, origin: .change(from: old.id))
            try insert(successor, predecessor: old.id, at: now)
            try database.run("UPDATE subscriptions SET \"end\" = ?, successor_id = ?, updated_at = ? WHERE id = ?",
                             [instant.sql, .text(successor.id), now.sql, .text(old.id)])
            return successor
        }
    }

    /// Cancels with `timing` (default immediate); returns the instant access ends.
    public func cancelSubscription(id: String, timing: ChangeTiming?, now: Instant) throws -> Instant {
        try transaction {
            let subscription = try modifiable(id).subscription
            if let end = subscription.end, end <= now {
                throw StoreInputError("subscription \(id) already ended at \(end)", kind: .conflict)
            }
            let end = subscription.cancellationEnd(timing: timing ?? .immediate, now: now)
            try refuseBeforeBilled(end, customerKey: subscription.customerKey, what: "a cancellation")
            try database.run("UPDATE subscriptions SET \"end\" = ?, updated_at = ? WHERE id = ?", [end.sql, now.sql, .text(id)])
            return end
        }
    }

    /// Removes a pending cancellation.
    public func reactivateSubscription(id: String, now: Instant) throws {
        try transaction {
            let subscription = try modifiable(id).subscription
            guard subscription.reactivated(at: now) != nil else {
                if let end = subscription.end {
                    throw StoreInputError("subscription \(id) ended at \(end); subscribe the customer again instead", kind: .conflict)
                }
                throw StoreInputError("subscription \(id) has no pending cancellation", kind: .conflict)
            }
            try database.run("UPDATE subscriptions SET \"end\" = NULL, updated_at = ? WHERE id = ?", [now.sql, .text(id)])
        }
    }
}
