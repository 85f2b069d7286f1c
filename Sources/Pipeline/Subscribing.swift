import Billing
import Foundation
import Store
import Stripe

/// A subscription the subscribe flow could not even ask for, with the reason.
public struct SubscribeError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case stripeNotConnected, stripeFailed }
    public let kind: Kind
    public let message: String
    public var description: String { message }
}

/// The subscribe flow of a developer portal (DESIGN.md "The server", Subscriptions): a plan
/// that bills something, for a customer with no saved payment method, waits for a Checkout
/// Session in setup mode and starts when it completes (`StripeInbox`); any other subscription
/// starts at once. A customer with no API key gets one when its subscription starts.
public struct Subscribing {
    let store: any Store
    let connection: StripeConnection?
    let now: Instant

    public init(store: any Store, connection: StripeConnection?, now: Instant) {
        self.store = store
        self.connection = connection
        self.now = now
    }

    public enum Outcome: Sendable {
        /// In service from now; `apiKey` when the customer had none.
        case started(Subscription, apiKey: NewAPIKey?)
        /// Waits for the customer to save a payment method at `checkoutUrl`.
        case pendingPayment(SubscriptionRequest, checkoutUrl: String)
    }

    /// Subscribes `customerKey` to a plan. `successUrl` and `cancelUrl` are where Checkout
    /// sends the customer back (`{id}` in them becomes the subscription's id).
    public func subscribe(customerKey: String, planKey: String, version: Int?, anchor: Instant?, successUrl: String, cancelUrl: String?,
                          makeAPIKey: () -> NewAPIKey) throws -> Outcome {
        guard let customer = try store.customer(key: customerKey) else {
            throw StoreInputError("no customer \(customerKey): import it with `tollbooth customers import`", kind: .invalid("customer"))
        }
        let plan = try store.plan(key: planKey, version: version)
        if plan.billsSomething, try !hasSavedPaymentMethod(customerKey) {
            return try checkout(customer, plan: plan, anchor: anchor, successUrl: successUrl, cancelUrl: cancelUrl)
        }
        return try store.transaction {
            let subscription = try store.createSubscription(customerKey: customerKey, planKey: plan.key, version: plan.version,
                                                            anchor: anchor, start: nil, now: now)
            let hasKey = try store.apiKeys(customerKey: customerKey).contains { $0.revokedAt == nil }
            let key = hasKey ? nil : makeAPIKey()
            if let key { try store.insertAPIKey(id: key.id, customerKey: customerKey, digest: key.digest, last4: key.last4, at: now) }
            return .started(subscription, apiKey: key)
        }
    }

    /// Whether invoices can charge the customer: a default payment method recorded, or a saved
    /// one in Stripe (made the default here, as the issue stage would).
    func hasSavedPaymentMethod(_ customerKey: String) throws -> Bool {
        guard let connection else { return false }
        if try store.defaultPaymentMethod(customerKey: customerKey, account: connection.account) != nil { return true }
        guard case .created(let stripeId, _)? = try store.stripeCustomer(customerKey: customerKey, account: connection.account) else {
            return false
        }
        return try stripeCall {
            try CustomerPayments(store: store, connection: connection, now: now).useNewestPaymentMethod(customerKey: customerKey, stripeId: stripeId)
        } != nil
    }

    func checkout(_ customer: Customer, plan: Plan, anchor: Instant?, successUrl: String, cancelUrl: String?) throws -> Outcome {
        let customerKey = customer.key
        guard let connection else {
            throw SubscribeError(kind: .stripeNotConnected,
                                 message: "plan \(plan.key) bills the customer, who has no saved payment method, and Stripe is not connected: connect it first (POST /setup/stripe or `tollbooth stripe connect`)")
        }
        let id = "sub_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12)
        var request = try store.insertSubscriptionRequest(id: String(id), customerKey: customerKey, planKey: plan.key, version: plan.version,
                                                          anchor: anchor, now: now)
        let session: CheckoutSession
        do {
            let stripeId = try StripeCustomers(store: store, stripe: connection.client, account: connection.account,
                                               failpoints: Failpoints(environment: [:]), now: now).ensure(customer)
            session = try connection.client.createCheckoutSetupSession(
                CheckoutSetupSessionCreate(customer: stripeId, currency: customer.currency ?? plan.currency,
                                           successUrl: successUrl.replacingOccurrences(of: "{id}", with: request.id),
                                           cancelUrl: cancelUrl?.replacingOccurrences(of: "{id}", with: request.id),
                                           clientReferenceId: customerKey,
                                           metadata: [StripeMapping.customerKey: customerKey, Subscribing.subscriptionKey: request.id]),
                idempotencyKey: "tollbooth-checkout-\(request.id)")
        } catch let error as StripeError {
            try store.endSubscriptionRequest(id: request.id, status: .failed, reason: "Stripe: \(error.description)", at: now)
            throw SubscribeError(kind: .stripeFailed, message: "Stripe could not open a Checkout Session: \(error.description)")
        }
        let url = session.url ?? ""
        try store.recordCheckout(requestId: request.id, sessionId: session.id, url: url, expiresAt: Instant(seconds: session.expiresAt), at: now)
        try store.requestPaymentMethodsCheck(customerKey: customerKey, account: connection.account)
        request.checkoutSessionId = session.id
        request.checkoutUrl = url
        request.checkoutExpiresAt = Instant(seconds: session.expiresAt)
        return .pendingPayment(request, checkoutUrl: url)
    }

    func stripeCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StripeError {
            throw SubscribeError(kind: .stripeFailed, message: "Stripe: \(error.description)")
        }
    }

    /// The Checkout Session's metadata key naming the subscription it starts.
    static let subscriptionKey = "tollbooth_subscription"
}
