import Billing
import Foundation

extension SQLRepositories {
    static var inboxColumns: String { "id, type, account, object_id, created, livemode, payload, received_at, attempts, applied_at, outcome" }

    /// Stores a verified event unless one with its id is stored already; true when it is new.
    @discardableResult
    public func receiveStripeEvent(_ event: InboxEvent) throws -> Bool {
        try connection.run("""
            INSERT INTO stripe_events (id, type, account, object_id, created, livemode, payload, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, [.text(event.id), .text(event.type), SQLValue(event.account), SQLValue(event.objectId), event.created.sql,
                  .integer(event.livemode ? 1 : 0), .text(event.payload), event.receivedAt.sql]) == 1
    }

    public func stripeEvent(id: String) throws -> InboxEvent? {
        try connection.first("SELECT \(Self.inboxColumns) FROM stripe_events WHERE id = ?", [.text(id)]).map(inboxEvent)
    }

    /// Events not applied yet, oldest first by Stripe's time.
    public func waitingStripeEvents(limit: Int) throws -> [InboxEvent] {
        try connection.query("SELECT \(Self.inboxColumns) FROM stripe_events WHERE applied_at IS NULL ORDER BY created, id LIMIT ?",
                           [.integer(Int64(limit))]).map(inboxEvent)
    }

    /// Every stored event, oldest first (for reports and tests).
    public func stripeEvents() throws -> [InboxEvent] {
        try connection.query("SELECT \(Self.inboxColumns) FROM stripe_events ORDER BY created, id").map(inboxEvent)
    }

    /// Records an attempt to apply an event: applied (or ignored for good) when `done`, else
    /// left waiting with `outcome` saying why.
    public func recordStripeEventAttempt(id: String, done: Bool, outcome: String, at now: Instant) throws {
        try connection.run("""
            UPDATE stripe_events SET attempts = attempts + 1, outcome = ?, applied_at = ?
            WHERE id = ? AND applied_at IS NULL
            """, [.text(outcome), done ? now.sql : .null, .text(id)])
    }

    private func inboxEvent(_ row: Row) -> InboxEvent {
        InboxEvent(id: row.string(0) ?? "", type: row.string(1) ?? "", account: row.string(2), objectId: row.string(3),
                   created: row.instant(4) ?? Instant(seconds: 0), livemode: row.int(5) == 1, payload: row.string(6) ?? "",
                   receivedAt: row.instant(7) ?? Instant(seconds: 0), attempts: Int(row.int(8) ?? 0), appliedAt: row.instant(9),
                   outcome: row.string(10))
    }

    // MARK: Invoices by their Stripe id

    /// The invoice Stripe knows as `stripeId`, with the `created` time of the newest event
    /// applied to it.
    public func invoice(stripeInvoiceId stripeId: String) throws -> (invoice: StoredInvoice, lastEventCreated: Instant?)? {
        guard let row = try connection.first("SELECT id, stripe_event_created FROM invoices WHERE stripe_invoice_id = ?", [.text(stripeId)]),
              let id = row.string(0), let invoice = try invoice(id: id) else { return nil }
        return (invoice, row.instant(1))
    }

    /// Payment state from a webhook event: as `recordPayment`, keeping the event's time as the
    /// newest applied to the invoice.
    public func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                              eventCreated: Instant, at now: Instant) throws {
        try transaction {
            try recordPayment(invoiceId: invoiceId, status: status, payment: payment, failureReason: failureReason, at: now)
            try connection.run("""
                UPDATE invoices SET stripe_event_created = CASE WHEN coalesce(stripe_event_created, 0) > ?1 THEN stripe_event_created ELSE ?1 END
                WHERE id = ?2
                """,
                             [eventCreated.sql, .text(invoiceId)])
        }
    }

    /// The customer whose Stripe Customer (in any account) is `stripeId`.
    public func customerKey(stripeCustomerId stripeId: String) throws -> String? {
        try connection.first("SELECT customer_key FROM stripe_customers WHERE stripe_id = ?", [.text(stripeId)])?.string(0)
    }

    /// The Customer's default payment method as last set or seen by Tollbooth.
    public func defaultPaymentMethod(customerKey: String, account: String) throws -> String? {
        try connection.first("SELECT default_payment_method FROM stripe_customers WHERE customer_key = ? AND account = ?",
                           [.text(customerKey), .text(account)])?.string(0)
    }
}
