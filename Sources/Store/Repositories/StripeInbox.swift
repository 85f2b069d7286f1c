import Billing
import Foundation

/// A Stripe event as the webhook inbox holds it.
public struct InboxEvent: Hashable, Sendable {
    public var id: String
    public var type: String
    public var account: String?
    /// `data.object.id`: the invoice, Checkout Session… the event is about.
    public var objectId: String?
    /// When Stripe made the event (its `created`).
    public var created: Instant
    public var livemode: Bool
    /// The body as delivered.
    public var payload: String
    public var receivedAt: Instant
    public var attempts: Int
    /// Set once the event was applied or deliberately ignored.
    public var appliedAt: Instant?
    /// What applying it did, or why it waits.
    public var outcome: String?

    public init(id: String, type: String, account: String?, objectId: String?, created: Instant, livemode: Bool, payload: String,
                receivedAt: Instant, attempts: Int = 0, appliedAt: Instant? = nil, outcome: String? = nil) {
        self.id = id
        self.type = type
        self.account = account
        self.objectId = objectId
        self.created = created
        self.livemode = livemode
        self.payload = payload
        self.receivedAt = receivedAt
        self.attempts = attempts
        self.appliedAt = appliedAt
        self.outcome = outcome
    }
}

/// The webhook inbox: Stripe's events kept by id, so each is applied once however often it is
/// delivered, and what was applied to each invoice.

/// The Stripe webhook inbox: verified events keyed by Stripe's event id, each with its
/// attempts and outcome, and what applying an invoice event reads and writes.
public protocol StripeInboxRepository: AnyObject {
    /// Stores a verified event; false when it was stored before.
    func receiveStripeEvent(_ event: InboxEvent) throws -> Bool
    func stripeEvent(id: String) throws -> InboxEvent?
    /// Events not yet applied, oldest first.
    func waitingStripeEvents(limit: Int) throws -> [InboxEvent]
    func stripeEvents() throws -> [InboxEvent]
    func recordStripeEventAttempt(id: String, done: Bool, outcome: String, at now: Instant) throws
    /// The invoice a Stripe invoice id stands for, with the newest applied event's time.
    func invoice(stripeInvoiceId stripeId: String) throws -> (invoice: StoredInvoice, lastEventCreated: Instant?)?
    /// Records the payment state an event carried, and the event's time.
    func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                       eventCreated: Instant, at now: Instant) throws
    func customerKey(stripeCustomerId stripeId: String) throws -> String?
    func defaultPaymentMethod(customerKey: String, account: String) throws -> String?
}

extension StripeInboxRepository {
    public func waitingStripeEvents() throws -> [InboxEvent] { try waitingStripeEvents(limit: 500) }
}
