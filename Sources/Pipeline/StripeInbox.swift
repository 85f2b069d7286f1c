import Billing
import Foundation
import Store
import Stripe

/// What applying one inbox event did.
public enum InboxOutcome: Hashable, Sendable {
    /// It changed something: what.
    case applied(String)
    /// It is kept and changes nothing, for good: why (an object Tollbooth does not know, a
    /// state that would move back, a type not handled).
    case ignored(String)
    /// It cannot be applied yet (its invoice is still being issued, Stripe did not answer):
    /// tried again later.
    case waiting(String)

    public var text: String {
        switch self {
        case .applied(let what): return "applied: \(what)"
        case .ignored(let why): return "ignored: \(why)"
        case .waiting(let why): return "waiting: \(why)"
        }
    }

    public var isDone: Bool {
        if case .waiting = self { return false }
        return true
    }
}

/// Applies the webhook inbox's events with DESIGN.md's rules: an invoice's payment state only
/// moves forward (`paid`, `void`, `uncollectible` are final, and an event older than the newest
/// applied one that would move it back changes nothing); the first payment failure happened at
/// the failing event's `created`; a completed Checkout makes the saved card the one invoices
/// charge and starts the subscription waiting for it; an event about an object Tollbooth does
/// not know is kept and ignored. Stripe stays the source of truth: the collect stage still reads
/// every open invoice back, for what a lost webhook missed.
public struct StripeInbox {
    let store: any Store
    /// The connected account, for the Stripe calls a completed Checkout needs; nil when Stripe
    /// is not connected (such events wait).
    let connection: StripeConnection?
    let now: Instant
    /// Makes a customer's first API key when a waiting subscription starts.
    let makeAPIKey: @Sendable () -> NewAPIKey

    public init(store: any Store, connection: StripeConnection?, now: Instant, makeAPIKey: @escaping @Sendable () -> NewAPIKey) {
        self.store = store
        self.connection = connection
        self.now = now
        self.makeAPIKey = makeAPIKey
    }

    /// An event that waited this long is given up on (its invoice never issued).
    public static let patience: Int64 = 7 * 86_400

    /// The inbox row for a verified delivery, before it is stored; nil when the body is not a
    /// Stripe event.
    public static func inboxEvent(payload: Data, receivedAt: Instant) -> InboxEvent? {
        guard let event = try? Event.decode(payload) else { return nil }
        return InboxEvent(id: event.id, type: event.type, account: event.account, objectId: event.data.object["id"]?.string,
                          created: Instant(seconds: event.created), livemode: event.livemode,
                          payload: String(decoding: payload, as: UTF8.self), receivedAt: receivedAt)
    }

    /// Applies one stored event and records the outcome in the inbox. An invoice event is read,
    /// decided and written in one write transaction, so a bill run's collect stage (or another
    /// server applying the same event) on the database cannot commit in between; a Checkout
    /// event calls Stripe, so it holds no write lock while it waits, and what it writes guards
    /// itself (a request starts only while pending, an event is recorded only once).
    @discardableResult
    public func apply(_ stored: InboxEvent) throws -> InboxOutcome {
        guard stored.type.hasPrefix("invoice.") else { return try attempt(stored) }
        return try store.transaction {
            guard try store.stripeEvent(id: stored.id)?.appliedAt == nil else { return .ignored("applied already") }
            return try attempt(stored)
        }
    }

    func attempt(_ stored: InboxEvent) throws -> InboxOutcome {
        var outcome: InboxOutcome
        do {
            outcome = try decide(stored)
        } catch let error as StripeError {
            outcome = .waiting("Stripe: \(error.description)")
        }
        if case .waiting(let why) = outcome, now.seconds - stored.receivedAt.seconds > StripeInbox.patience {
            outcome = .ignored("gave up after \(StripeInbox.patience / 86_400) days: \(why)")
        }
        try store.recordStripeEventAttempt(id: stored.id, done: outcome.isDone, outcome: outcome.text, at: now)
        return outcome
    }

    /// Applies every event still waiting, oldest first (the collect stage does this before it
    /// reads invoices from Stripe, and the server after a restart).
    public func applyWaiting() throws -> [InboxOutcome] {
        try store.waitingStripeEvents().map { try apply($0) }
    }

    func decide(_ stored: InboxEvent) throws -> InboxOutcome {
        guard let event = try? Event.decode(Data(stored.payload.utf8)) else {
            return .ignored("the body is not a Stripe event")
        }
        if let connection, let account = event.account, account != connection.account {
            return .ignored("event of account \(account), not the connected \(connection.account)")
        }
        switch event.type {
        case "invoice.paid", "invoice.payment_failed", "invoice.payment_action_required", "invoice.marked_uncollectible",
             "invoice.voided", "invoice.finalized", "invoice.finalization_failed":
            return try invoiceEvent(event)
        case "checkout.session.completed":
            return try checkoutCompleted(event)
        case "checkout.session.expired":
            return try checkoutExpired(event)
        default:
            return .ignored("\(event.type) is not an event Tollbooth acts on")
        }
    }

    // MARK: Invoices

    func invoiceEvent(_ event: Event) throws -> InboxOutcome {
        guard let remoteId = event.data.object["id"]?.string else { return .ignored("the event's object has no id") }
        guard let (stored, lastEvent) = try store.invoice(stripeInvoiceId: remoteId) else {
            // Stripe may send the event before the issue stage has recorded the Stripe id of
            // the invoice it is issuing (the metadata names it): that one waits.
            if let localId = event.data.object["metadata"]?[StripeMapping.invoiceKey]?.string,
               let local = try store.invoice(id: localId), local.stripeInvoiceId == nil, local.status == .issuing {
                return .waiting("invoice \(localId) is being issued as \(remoteId)")
            }
            return .ignored("no invoice of Tollbooth's is \(remoteId)")
        }
        let remote: StripeInvoice
        do {
            remote = try event.object(as: StripeInvoice.self)
        } catch {
            return .ignored("invoice \(remoteId) in the event cannot be read: \(error)")
        }
        guard PaymentStateRule.rank(stored.status) != nil else {
            if stored.status == .notRequired { return .ignored("invoice \(stored.id) needs no payment") }
            return .waiting("invoice \(stored.id) is \(stored.status.rawValue), not issued yet")
        }
        let created = Instant(seconds: event.created)
        let reason = stored.failure.flatMap { $0.stage == "collect" ? $0.message : nil }
        guard let change = PaymentStateRule.apply(event: event.type, remote: remote, created: created, status: stored.status,
                                                  payment: stored.payment, reason: reason, lastEventCreated: lastEvent)
        else {
            return .ignored("invoice \(stored.id) is \(stored.status.rawValue); \(event.type) of \(created.rfc3339) does not move it forward")
        }
        try store.recordPayment(invoiceId: stored.id, status: change.status, payment: change.payment, failureReason: change.reason,
                                eventCreated: created, at: now)
        return .applied("invoice \(stored.id) \(stored.status.rawValue) -> \(change.status.rawValue)")
    }

    // MARK: Checkout

    /// The customer a Checkout Session is for: Tollbooth's metadata, the client reference, or
    /// the Stripe Customer's record.
    func customerKey(_ session: CheckoutSession) throws -> String? {
        if let key = session.metadata?[StripeMapping.customerKey], try store.customer(key: key) != nil { return key }
        if let key = session.clientReferenceId, try store.customer(key: key) != nil { return key }
        return try session.customer.flatMap { try store.customerKey(stripeCustomerId: $0) }
    }

    func checkoutCompleted(_ event: Event) throws -> InboxOutcome {
        let session = try event.object(as: CheckoutSession.self)
        guard session.mode == "setup" else { return .ignored("Checkout Session \(session.id) is in \(session.mode) mode, not setup") }
        guard let customerKey = try customerKey(session), let stripeCustomer = session.customer else {
            return .ignored("Checkout Session \(session.id) is for no customer of Tollbooth's")
        }
        guard let connection else { return .waiting("Stripe is not connected: the saved card cannot be made the default") }
        let chosen = try CustomerPayments(store: store, connection: connection, now: now)
            .useNewestPaymentMethod(customerKey: customerKey, stripeId: stripeCustomer)
        var what = chosen.map { "\($0.id) is \(customerKey)'s default payment method" } ?? "\(customerKey) saved no payment method"
        guard let request = try store.subscriptionRequest(checkoutSessionId: session.id) else { return .applied(what) }
        guard request.status == .pendingPayment else {
            return .applied(what + "; subscription \(request.id) is \(request.status.rawValue), not started")
        }
        // It starts when the customer completed Checkout: the event's time (never before it was asked for).
        let start = Instant(seconds: min(max(event.created, request.createdAt.seconds), now.seconds))
        do {
            let hasKey = try store.apiKeys(customerKey: customerKey).contains { $0.revokedAt == nil }
            let key = hasKey ? nil : makeAPIKey()
            _ = try store.startSubscriptionRequest(id: request.id, start: start, apiKey: key.map { ($0.id, $0.digest, $0.last4, $0.secret) },
                                                   now: now)
            what += "; subscription \(request.id) started at \(start.rfc3339)" + (key.map { " with API key \($0.id)" } ?? "")
        } catch let error as StoreInputError {
            try store.endSubscriptionRequest(id: request.id, status: .failed, reason: error.message, at: now)
            what += "; subscription \(request.id) could not start: \(error.message)"
        }
        return .applied(what)
    }

    func checkoutExpired(_ event: Event) throws -> InboxOutcome {
        let session = try event.object(as: CheckoutSession.self)
        guard let request = try store.subscriptionRequest(checkoutSessionId: session.id) else {
            return .ignored("no subscription waits for Checkout Session \(session.id)")
        }
        guard request.status == .pendingPayment else { return .ignored("subscription \(request.id) is \(request.status.rawValue)") }
        try store.endSubscriptionRequest(id: request.id, status: .expired, reason: "the Checkout Session expired unpaid", at: now)
        return .applied("subscription \(request.id) expired with its Checkout Session")
    }
}

extension PaymentStateRule {
    /// How far an invoice's payment has come; a webhook never moves it to a lower rank. Nil
    /// for an invoice not issued (yet), which webhooks leave to the issue stage.
    static func rank(_ status: InvoiceStatus) -> Int? {
        switch status {
        case .issued: return 1
        case .paymentFailed: return 2
        case .paid, .void, .uncollectible: return 3
        case .draft, .rated, .taxed, .issuing, .failed, .notRequired: return nil
        }
    }

    /// What an invoice event makes of a stored invoice's `status`, `payment` state and failure
    /// `reason`: the new three, or nil when it changes nothing. `remote` is the invoice as it
    /// was when the event was made (`created`); `lastEventCreated` is the newest event applied
    /// before.
    static func apply(event type: String, remote: StripeInvoice, created: Instant, status: InvoiceStatus, payment stored: PaymentState,
                      reason storedReason: String?, lastEventCreated: Instant?)
        -> (status: InvoiceStatus, payment: PaymentState, reason: String?)? {
        let target: InvoiceStatus
        switch type {
        case "invoice.paid": target = .paid
        case "invoice.voided": target = .void
        case "invoice.marked_uncollectible": target = .uncollectible
        case "invoice.payment_failed", "invoice.payment_action_required": target = .paymentFailed
        case "invoice.finalized": target = .issued
        default: return nil  // finalization_failed: the issue stage sees and records it
        }
        guard let from = rank(status), let to = rank(target), from < 3, to >= from else { return nil }
        var payment = stored
        if to == from, let lastEventCreated, created < lastEventCreated {
            // Older than what was applied: its state is stale, but an earlier failure still
            // moves the failure time back (the grace counts from the first failure).
            guard target == .paymentFailed, let failedAt = stored.paymentFailedAt, created < failedAt else { return nil }
            payment.paymentFailedAt = created
            return (status, payment, storedReason)
        }
        take(remote, into: &payment)
        // An event's object may be older than what collect read: attempts never go back.
        payment.attemptCount = max(stored.attemptCount, remote.attemptCount)
        var reason: String?
        switch target {
        case .paid:
            payment.paidAt = remote.statusTransitions.paidAt.map { Instant(seconds: $0) } ?? created
        case .void:
            payment.voidedAt = remote.statusTransitions.voidedAt.map { Instant(seconds: $0) } ?? created
        case .uncollectible:
            payment.uncollectibleAt = remote.statusTransitions.markedUncollectibleAt.map { Instant(seconds: $0) } ?? created
        case .paymentFailed:
            payment.paymentFailedAt = min(stored.paymentFailedAt ?? created, created)
            if type == "invoice.payment_action_required" {
                reason = authenticationReason(remote)
            } else {
                reason = failureReason(remote)
            }
        default:
            break
        }
        return (target == .issued ? status : target, payment, reason)
    }
}
