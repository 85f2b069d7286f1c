import Billing
import Foundation

/// A subscription asked for by a customer with no saved payment method: it waits for the
/// Checkout Session where the customer saves one, then starts under the same id.
public struct SubscriptionRequest: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case pendingPayment = "pending_payment"
        case started, expired, cancelled, failed
    }

    public var id: String
    public var customerKey: String
    public var planKey: String
    public var planVersion: Int
    public var anchor: Instant?
    public var status: Status
    public var checkoutSessionId: String?
    public var checkoutUrl: String?
    public var checkoutExpiresAt: Instant?
    public var createdAt: Instant
    public var apiKeyId: String?
    /// Why it did not start (expired or failed).
    public var failure: String?
}

/// Subscriptions waiting for Checkout: the request's id becomes the subscription's.
public protocol SubscriptionRequestRepository: AnyObject {
    func insertSubscriptionRequest(id: String, customerKey: String, planKey: String, version: Int?, anchor: Instant?,
                                   now: Instant) throws -> SubscriptionRequest
    func recordCheckout(requestId: String, sessionId: String, url: String, expiresAt: Instant?, at now: Instant) throws
    func subscriptionRequest(id: String) throws -> SubscriptionRequest?
    func subscriptionRequest(checkoutSessionId: String) throws -> SubscriptionRequest?
    /// Starts the requested subscription at `start`, with an API key when one is given; nil
    /// when the request was already settled.
    func startSubscriptionRequest(id: String, start: Instant, apiKey: (id: String, digest: String, last4: String, secret: String)?,
                                  now: Instant) throws -> Subscription?
    func endSubscriptionRequest(id: String, status: SubscriptionRequest.Status, reason: String, at now: Instant) throws
    /// The API key made when the request started, the first time it is asked for; nil after.
    func takeRequestedAPIKeySecret(requestId: String) throws -> String?
}
