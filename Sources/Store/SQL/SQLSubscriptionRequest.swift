import Billing
import Foundation

extension SQLRepositories {
    static var requestColumns: String {
        """
        id, customer_key, plan_key, plan_version, anchor, status, checkout_session_id, checkout_url, checkout_expires_at, created_at,
        api_key_id, failure
        """
    }

    /// Records a request for `plan`, checked as `createSubscription` checks a new subscription
    /// (customer, plan, currency, none in service). A pending request of the customer's made
    /// before is superseded: only the newest Checkout starts a subscription.
    public func insertSubscriptionRequest(id: String, customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                          now: Instant) throws -> SubscriptionRequest {
        try transaction {
            let plan = try planForNewSubscription(customerKey: customerKey, planKey: planKey, version: version, from: now)
            try connection.run("""
                UPDATE subscription_requests SET status = 'expired', failure = ?, updated_at = ?
                WHERE customer_key = ? AND status = 'pending_payment'
                """, [.text("superseded by \(id)"), now.sql, .text(customerKey)])
            try connection.run("""
                INSERT INTO subscription_requests (id, customer_key, plan_key, plan_version, anchor, status, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'pending_payment', ?, ?)
                """, [.text(id), .text(customerKey), .text(plan.key), .integer(Int64(plan.version)), SQLValue(anchor?.seconds),
                      now.sql, now.sql])
            return SubscriptionRequest(id: id, customerKey: customerKey, planKey: plan.key, planVersion: plan.version, anchor: anchor,
                                       status: .pendingPayment, createdAt: now)
        }
    }

    /// The Checkout Session the customer completes to start the request.
    public func recordCheckout(requestId: String, sessionId: String, url: String, expiresAt: Instant?, at now: Instant) throws {
        try connection.run("""
            UPDATE subscription_requests SET checkout_session_id = ?, checkout_url = ?, checkout_expires_at = ?, updated_at = ? WHERE id = ?
            """, [.text(sessionId), .text(url), SQLValue(expiresAt?.seconds), now.sql, .text(requestId)])
    }

    public func subscriptionRequest(id: String) throws -> SubscriptionRequest? {
        try connection.first("SELECT \(Self.requestColumns) FROM subscription_requests WHERE id = ?", [.text(id)]).map(subscriptionRequest)
    }

    public func subscriptionRequest(checkoutSessionId: String) throws -> SubscriptionRequest? {
        try connection.first("SELECT \(Self.requestColumns) FROM subscription_requests WHERE checkout_session_id = ?",
                           [.text(checkoutSessionId)]).map(subscriptionRequest)
    }

    /// Starts a pending request at `start`: the subscription (under the request's id) and, when
    /// given, the customer's new API key, whose secret is kept for one read
    /// (`takeRequestedAPIKeySecret`). A request no longer pending is left as it is: nil.
    public func startSubscriptionRequest(id: String, start: Instant, apiKey: (id: String, digest: String, last4: String, secret: String)?,
                                         now: Instant) throws -> Subscription? {
        try transaction {
            guard let request = try subscriptionRequest(id: id), request.status == .pendingPayment else { return nil }
            let subscription = try createSubscription(customerKey: request.customerKey, planKey: request.planKey, version: request.planVersion,
                                                      anchor: request.anchor, start: start, now: now, id: request.id)
            if let apiKey {
                try insertAPIKey(id: apiKey.id, customerKey: request.customerKey, digest: apiKey.digest, last4: apiKey.last4, at: now)
            }
            try connection.run("""
                UPDATE subscription_requests SET status = 'started', api_key_id = ?, api_key_secret = ?, updated_at = ? WHERE id = ?
                """, [SQLValue(apiKey?.id), SQLValue(apiKey?.secret), now.sql, .text(id)])
            return subscription
        }
    }

    /// Ends a pending request without a subscription (its Checkout expired, or it cannot start).
    public func endSubscriptionRequest(id: String, status: SubscriptionRequest.Status, reason: String, at now: Instant) throws {
        try connection.run("""
            UPDATE subscription_requests SET status = ?, failure = ?, updated_at = ? WHERE id = ? AND status = 'pending_payment'
            """, [.text(status.rawValue), .text(reason), now.sql, .text(id)])
    }

    /// The API key secret made when the request started, once: the read clears it.
    public func takeRequestedAPIKeySecret(requestId: String) throws -> String? {
        try transaction {
            let secret = try connection.first("SELECT api_key_secret FROM subscription_requests WHERE id = ?", [.text(requestId)])?.string(0)
            if secret != nil {
                try connection.run("UPDATE subscription_requests SET api_key_secret = NULL WHERE id = ?", [.text(requestId)])
            }
            return secret
        }
    }

    private func subscriptionRequest(_ row: Row) -> SubscriptionRequest {
        SubscriptionRequest(id: row.string(0) ?? "", customerKey: row.string(1) ?? "", planKey: row.string(2) ?? "",
                            planVersion: Int(row.int(3) ?? 0), anchor: row.instant(4),
                            status: SubscriptionRequest.Status(rawValue: row.string(5) ?? "") ?? .failed, checkoutSessionId: row.string(6),
                            checkoutUrl: row.string(7), checkoutExpiresAt: row.instant(8), createdAt: row.instant(9) ?? Instant(seconds: 0),
                            apiKeyId: row.string(10), failure: row.string(11))
    }
}
