import Billing
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Pipeline
import Store
import Stripe

/// The subscription routes (admin) with the command line's rules, the Customer Portal session
/// and the customers' API keys. Everything runs on the Stripe side's queue (`StripeLink`),
/// which brings the check's state up to date before the answer.
extension Routes {
    /// `POST /v1/subscriptions` `{"customer", "plan", "version"?, "anchor"?, "successUrl"?, "cancelUrl"?}`.
    func subscribe(_ request: Request) async throws -> Response {
        let body = try JSONBody(try await self.body(request))
        let customer = try body.requiredString("customer"), plan = try body.requiredString("plan"), version = try body.int("version")
        let anchor = try body.string("anchor").map { text in
            guard let instant = Instant(rfc3339: text) else { throw JSONBody.invalid("anchor", "anchor must be an RFC 3339 time") }
            return instant
        }
        let base = publicBase(request)
        let successUrl = try body.string("successUrl") ?? base + "/portal/checkout/done?subscription={id}"
        let cancelUrl = try body.string("cancelUrl") ?? base + "/portal/checkout/cancelled?subscription={id}"
        let now = live.now(), link = stripe
        let connection = try stripeConnection()
        let outcome = try await answering {
            try await link.run { store in
                try Subscribing(store: store, connection: connection, now: now)
                    .subscribe(customerKey: customer, planKey: plan, version: version, anchor: anchor, successUrl: successUrl, cancelUrl: cancelUrl,
                               makeAPIKey: link.makeAPIKey)
            }
        }
        switch outcome {
        case .started(let subscription, let key):
            var json = try await subscriptionJSON(subscription.id)
            if let key { json = adding(apiKey: key.secret, id: key.id, to: json) }
            return JSONResponse.make(.created, text: json.compact)
        case .pendingPayment(let request, let url):
            return JSONResponse.make(.created, text: Routes.requestJSON(request, checkoutUrl: url, apiKey: nil).compact)
        }
    }

    /// `GET /v1/subscriptions/{id}`: the subscription, or the request waiting for Checkout. The
    /// API key made when a waiting subscription started is in the first answer only.
    func subscription(id: String) async throws -> Response {
        let (request, secret) = try await stripe.worker.run { store -> (SubscriptionRequest?, String?) in
            guard let request = try store.subscriptionRequest(id: id) else { return (nil, nil) }
            return (request, request.status == .started ? try store.takeRequestedAPIKeySecret(requestId: id) : nil)
        }
        if let request, request.status != .started {
            return JSONResponse.make(.ok, text: Routes.requestJSON(request, checkoutUrl: request.checkoutUrl, apiKey: nil).compact)
        }
        var json = try await subscriptionJSON(id)
        if let secret, let keyId = request?.apiKeyId { json = adding(apiKey: secret, id: keyId, to: json) }
        return JSONResponse.make(.ok, text: json.compact)
    }

    /// `POST /v1/subscriptions/{id}/change` `{"plan", "version"?, "timing"?}`: the successor.
    func changeSubscription(_ request: Request, id: String) async throws -> Response {
        let body = try JSONBody(try await self.body(request))
        let plan = try body.requiredString("plan"), version = try body.int("version"), timing = try Routes.timing(body)
        let now = live.now()
        let successor = try await answering { try await stripe.run { store in
            try store.changeSubscription(id: id, planKey: plan, version: version, timing: timing, now: now)
        } }
        return JSONResponse.make(.ok, text: try await subscriptionJSON(successor.id).compact)
    }

    /// `POST /v1/subscriptions/{id}/cancel` `{"timing"?}` (default immediate; a portal passes
    /// `next_billing_cycle` to keep access to the period end).
    func cancelSubscription(_ request: Request, id: String) async throws -> Response {
        let timing = try Routes.timing(try JSONBody(try await self.body(request)))
        let now = live.now()
        _ = try await answering { try await stripe.run { store in try store.cancelSubscription(id: id, timing: timing, now: now) } }
        return JSONResponse.make(.ok, text: try await subscriptionJSON(id).compact)
    }

    /// `POST /v1/subscriptions/{id}/reactivate`: removes a pending cancellation.
    func reactivateSubscription(id: String) async throws -> Response {
        let now = live.now()
        try await answering { try await stripe.run { store in try store.reactivateSubscription(id: id, now: now) } }
        return JSONResponse.make(.ok, text: try await subscriptionJSON(id).compact)
    }

    /// `POST /v1/customers/{key}/portal-session` `{"returnUrl"?}`: `{"url"}` of a Customer Portal session.
    func portalSession(_ request: Request, customerKey: String) async throws -> Response {
        let returnUrl = try JSONBody(try await self.body(request)).string("returnUrl").flatMap { $0.isEmpty ? nil : $0 }
        guard let connection = try stripeConnection() else {
            throw Problem(.conflict, "Conflict", "Stripe is not connected: connect it first (POST /setup/stripe)")
        }
        let now = live.now()
        let url = try await answering { try await stripe.worker.run { store in
            guard try store.customer(key: customerKey) != nil else { throw StoreInputError("no customer \(customerKey)", kind: .notFound) }
            return try CustomerPayments(store: store, connection: connection, now: now).portalLink(customerKey: customerKey, returnUrl: returnUrl)
        } }
        return JSONResponse.make(.ok, .object([("url", .string(url))]))
    }

    // MARK: API keys

    /// `GET /v1/customers/{key}/api-keys`: the customer's keys (never their secrets).
    func apiKeys(customerKey: String) async throws -> Response {
        let keys = try await answering { try await stripe.worker.run { store in
            guard try store.customer(key: customerKey) != nil else { throw StoreInputError("no customer \(customerKey)", kind: .notFound) }
            return try store.apiKeys(customerKey: customerKey)
        } }
        return JSONResponse.make(.ok, .object([("data", .array(keys.map(Routes.keyJSON)))]))
    }

    /// `POST /v1/customers/{key}/api-keys`: a new key, its secret shown in this answer only.
    func createAPIKey(customerKey: String) async throws -> Response {
        let key = stripe.makeAPIKey(), now = live.now()
        let stored = try await answering { try await stripe.run { store in
            try store.insertAPIKey(id: key.id, customerKey: customerKey, digest: key.digest, last4: key.last4, at: now)
            return try store.apiKeys(customerKey: customerKey).first { $0.id == key.id }
        } }
        guard let stored else { throw Problem(.internalServerError, "Internal Server Error", "the key was not stored; try again") }
        guard case .object(var members) = Routes.keyJSON(stored) else { return JSONResponse.make(.created, Routes.keyJSON(stored)) }
        members.append(("key", .string(key.secret)))
        return JSONResponse.make(.created, .object(members))
    }

    /// `DELETE /v1/customers/{key}/api-keys/{id}`: revoked at once (its checks answer 403).
    func revokeAPIKey(customerKey: String, id: String) async throws -> Response {
        let now = live.now()
        let revoked = try await stripe.run { store in try store.revokeAPIKey(id: id, customerKey: customerKey, at: now) }
        guard revoked else { throw Problem(.notFound, "Not Found", "customer \(customerKey) has no key \(id) in use") }
        return JSONResponse.make(.ok, .object([("id", .string(id)), ("revoked", .bool(true))]))
    }

    // MARK: Helpers

    /// Runs `body`, turning refusals of the store's rules and of the subscribe flow into problems.
    func answering<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as StoreInputError {
            throw Problem(error)
        } catch let error as SubscribeError {
            switch error.kind {
            case .stripeNotConnected: throw Problem(.conflict, "Conflict", error.message)
            case .stripeFailed: throw Problem(.badGateway, "Bad Gateway", error.message)
            }
        } catch let error as StripeError {
            throw Problem(.badGateway, "Bad Gateway", "Stripe: \(error.description)")
        } catch let error as StripeSetupError {
            throw Problem(error)
        }
    }

    func stripeConnection() throws -> StripeConnection? {
        do { return try stripe.connection() } catch let error as StripeSetupError {
            throw Problem(error)
        }
    }

    /// Where links back to this server point: `server.publicUrl`, else the host the request came to.
    func publicBase(_ request: Request) -> String {
        var base = live.settings.server.publicUrl ?? "http://" + (request.head.authority ?? live.settings.server.listen)
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    func subscriptionJSON(_ id: String) async throws -> JSONValue {
        let now = live.now()
        return try await answering { try await stripe.worker.run { store in
            guard let record = try store.subscription(id: id) else { throw StoreInputError("no subscription \(id)", kind: .notFound) }
            let successor = try record.successorId.flatMap { try store.subscription(id: $0) }
            return SubscriptionJSON.subscription(record, successor: successor, now: now)
        } }
    }

    func adding(apiKey secret: String, id: String, to json: JSONValue) -> JSONValue {
        json.setting("apiKey", .object(["id": .string(id), "key": .string(secret)]))
    }

    static func requestJSON(_ request: SubscriptionRequest, checkoutUrl: String?, apiKey: String?) -> JSONValue {
        .object([
            "id": .string(request.id), "customerKey": .string(request.customerKey), "planKey": .string(request.planKey),
            "planVersion": .number(request.planVersion), "status": .string(request.status.rawValue),
            "checkoutUrl": .string(request.status == .pendingPayment ? checkoutUrl : nil),
            "checkoutExpiresAt": .string(request.checkoutExpiresAt?.rfc3339), "reason": .string(request.failure),
        ])
    }

    static func keyJSON(_ key: StoredAPIKey) -> JSONValue {
        .object([("id", .string(key.id)), ("customer", .string(key.customerKey)), ("last4", .string(key.last4)),
                 ("createdAt", .string(key.createdAt.rfc3339)), ("revokedAt", key.revokedAt.map { .string($0.rfc3339) } ?? .null)])
    }

    static func timing(_ body: JSONBody) throws -> ChangeTiming? {
        guard let text = try body.string("timing") else { return nil }
        guard let timing = ChangeTiming(text) else {
            throw JSONBody.invalid("timing", "timing must be immediate, next_billing_cycle or an RFC 3339 time, not \(text)")
        }
        return timing
    }
}
