import Billing
import Foundation

extension SQLRepositories {
    public func stripeCustomer(customerKey: String, account: String) throws -> StripeCustomerRecord? {
        guard let row = try connection.first("SELECT stripe_id, synced_digest FROM stripe_customers WHERE customer_key = ? AND account = ?",
                                           [.text(customerKey), .text(account)]) else { return nil }
        return row.string(0).map { .created($0, digest: row.string(1)) } ?? .requested
    }

    /// Records that a Stripe Customer is about to be created, before the call.
    public func requestStripeCustomer(customerKey: String, account: String, at now: Instant) throws {
        try connection.run("""
            INSERT INTO stripe_customers (customer_key, account, requested_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
            """,
                         [.text(customerKey), .text(account), now.sql])
    }

    /// Stripe's id of the customer, with the digest of the details it was made or updated with
    /// (nil when they are not known: an adopted customer is updated once).
    public func recordStripeCustomer(customerKey: String, account: String, stripeId: String, digest: String?, at now: Instant) throws {
        try connection.run("""
            INSERT INTO stripe_customers (customer_key, account, stripe_id, requested_at, created_at, synced_digest) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (customer_key, account) DO UPDATE SET stripe_id = excluded.stripe_id, created_at = coalesce(stripe_customers.created_at, excluded.created_at),
                                                            synced_digest = excluded.synced_digest
            """, [.text(customerKey), .text(account), .text(stripeId), now.sql, now.sql, SQLValue(digest)])
    }

    /// Moves a `taxed` invoice to `issuing` before its first Stripe call, or keeps an `issuing`
    /// one there; `issue_started_at` keeps the first such moment.
    public func startIssuing(invoiceId: String, account: String, at now: Instant) throws {
        try connection.run("""
            UPDATE invoices SET status = 'issuing', stripe_account = ?, issue_started_at = coalesce(issue_started_at, ?), updated_at = ?
            WHERE id = ? AND status IN ('taxed', 'issuing')
            """, [.text(account), now.sql, now.sql, .text(invoiceId)])
    }

    public func recordStripeInvoice(invoiceId: String, stripeId: String, at now: Instant) throws {
        try connection.run("UPDATE invoices SET stripe_invoice_id = ?, updated_at = ? WHERE id = ?", [.text(stripeId), now.sql, .text(invoiceId)])
    }

    public func recordStripeItem(lineId: String, itemId: String) throws {
        try connection.run("UPDATE invoice_lines SET stripe_item_id = ? WHERE id = ?", [.text(itemId), .text(lineId)])
    }

    /// Lines Stripe has added to their invoice in the `add_lines` call under `key`.
    public func recordStripeLines(lineIds: [String], key: String) throws {
        try connection.transaction {
            for id in lineIds {
                try connection.run("UPDATE invoice_lines SET stripe_lines_key = ? WHERE id = ?", [.text(key), .text(id)])
            }
        }
    }

    /// Whether the issue stage should look for a saved card to make the Customer's default: until
    /// it has looked once, and after each payment or portal link made since.
    public func paymentMethodsToCheck(customerKey: String, account: String) throws -> Bool {
        try connection.first("SELECT payment_methods_to_check FROM stripe_customers WHERE customer_key = ? AND account = ?",
                           [.text(customerKey), .text(account)])?.int(0) != 0
    }

    /// The Customer's payment methods were looked at: `defaultPaymentMethod` is the one it charges
    /// (as set or found), nil when it has none.
    public func recordPaymentMethodsChecked(customerKey: String, account: String, defaultPaymentMethod: String?) throws {
        try connection.run("""
            UPDATE stripe_customers SET payment_methods_to_check = 0, default_payment_method = coalesce(?, default_payment_method)
            WHERE customer_key = ? AND account = ?
            """, [SQLValue(defaultPaymentMethod), .text(customerKey), .text(account)])
    }

    /// A payment or portal link was made: the customer may save a card there.
    public func requestPaymentMethodsCheck(customerKey: String, account: String) throws {
        try connection.run("UPDATE stripe_customers SET payment_methods_to_check = 1 WHERE customer_key = ? AND account = ?",
                         [.text(customerKey), .text(account)])
    }

    /// The finalized invoice: its number and the links a customer can be sent.
    public func markIssued(invoiceId: String, number: String?, hostedInvoiceUrl: String?, invoicePdf: String?, stripeTotal: Int64,
                           at now: Instant) throws {
        try connection.run("""
            UPDATE invoices SET status = 'issued', number = ?, hosted_invoice_url = ?, invoice_pdf = ?, stripe_total = ?,
                                issued_at = coalesce(issued_at, ?), failure_stage = NULL, failure_message = NULL,
                                failure_request_id = NULL, updated_at = ?
            WHERE id = ?
            """, [SQLValue(number), SQLValue(hostedInvoiceUrl), SQLValue(invoicePdf), .integer(stripeTotal), now.sql, now.sql,
                  .text(invoiceId)])
    }

    /// Stripe's total as the reconcile stage read it (Stripe's side, recorded, ours untouched).
    public func recordStripeTotal(invoiceId: String, _ total: Int64) throws {
        try connection.run("UPDATE invoices SET stripe_total = ? WHERE id = ?", [.integer(total), .text(invoiceId)])
    }

    public func recordTaxTransaction(invoiceId: String, transactionId: String) throws {
        try connection.run("UPDATE invoices SET tax_transaction_id = ? WHERE id = ?", [.text(transactionId), .text(invoiceId)])
    }

    /// Issued invoices whose Stripe Tax Calculation has no Tax Transaction recorded yet.
    public func invoicesAwaitingTaxTransaction() throws -> [StoredInvoice] {
        try connection.query("""
            SELECT \(Self.invoiceColumns) FROM invoices
            WHERE tax_calculation_id IS NOT NULL AND tax_transaction_id IS NULL
              AND status IN ('issued', 'paid', 'payment_failed', 'uncollectible')
            ORDER BY bill_date, customer_key
            """).map { try invoice(from: $0, withLines: false) }
    }

    /// Payment state read from Stripe, and the invoice's status derived from it.
    /// `failureReason` says why a payment failed when Tollbooth knows (a payment that waits for
    /// the customer's authentication); invoices show it as a failure at stage `collect`. Nil
    /// clears any reason recorded before.
    public func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                              at now: Instant) throws {
        try connection.run("""
            UPDATE invoices SET status = ?, stripe_status = ?, stripe_total = coalesce(?, stripe_total), amount_due = ?, amount_paid = ?,
                                starting_balance = ?, attempt_count = ?, next_payment_attempt = ?, paid_at = ?, payment_failed_at = ?,
                                uncollectible_at = ?, voided_at = ?, collected_at = ?, updated_at = ?,
                                payment_failure_reason = ?
            WHERE id = ?
            """, [.text(status.rawValue), SQLValue(payment.stripeStatus), SQLValue(payment.stripeTotal), SQLValue(payment.amountDue),
                  SQLValue(payment.amountPaid),
                  SQLValue(payment.startingBalance), .integer(Int64(payment.attemptCount)), SQLValue(payment.nextPaymentAttempt?.seconds),
                  SQLValue(payment.paidAt?.seconds), SQLValue(payment.paymentFailedAt?.seconds), SQLValue(payment.uncollectibleAt?.seconds),
                  SQLValue(payment.voidedAt?.seconds), SQLValue(payment.collectedAt?.seconds), now.sql,
                  SQLValue(failureReason), .text(invoiceId)])
    }

    /// Invoices whose payment state Stripe holds and may still change: issued, or with a
    /// failed payment attempt.
    public func collectableInvoices() throws -> [StoredInvoice] {
        try connection.query("""
            SELECT \(Self.invoiceColumns) FROM invoices
            WHERE status IN ('issued', 'payment_failed') AND stripe_invoice_id IS NOT NULL ORDER BY bill_date, customer_key
            """).map { try invoice(from: $0, withLines: false) }
    }

    /// Puts a failed invoice back where its failed stage starts (`rated` before tax, `taxed`
    /// or `issuing` before issue), under a new generation of idempotency keys. Returns the
    /// stage to run, or nil when the invoice is not failed.
    public func resumeFailed(invoiceId: String, at now: Instant) throws -> String? {
        guard let row = try connection.first("SELECT failure_stage, issue_started_at FROM invoices WHERE id = ? AND status = 'failed'",
                                           [.text(invoiceId)]),
              let stage = row.string(0) else { return nil }
        let status: InvoiceStatus
        switch stage {
        case "tax": status = .rated
        case "issue": status = row.int(1) == nil ? .taxed : .issuing
        default: return nil
        }
        try connection.run("""
            UPDATE invoices SET status = ?, failure_stage = NULL, failure_message = NULL, failure_request_id = NULL,
                                issue_generation = issue_generation + 1, updated_at = ?
            WHERE id = ?
            """, [.text(status.rawValue), now.sql, .text(invoiceId)])
        return stage
    }

    /// Voids an invoice locally: status `void` with the reason and time, and its lines queued to
    /// be billed again.
    public func voidInvoice(_ id: String, reason: String, at now: Instant) throws {
        try connection.transaction {
            // Checked again under the write lock: the invoice may have been paid since it was read.
            let status = try connection.first("SELECT status FROM invoices WHERE id = ?", [.text(id)])?.string(0)
            guard let status, ["issued", "payment_failed", "uncollectible", "void"].contains(status) else {
                throw StoreInputError("invoice \(id) is \(status ?? "gone"): only issued, unpaid invoices are voided")
            }
            try connection.run("""
                UPDATE invoices SET status = 'void', void_reason = ?, voided_at = coalesce(voided_at, ?), updated_at = ? WHERE id = ?
                """, [.text(reason), now.sql, now.sql, .text(id)])
            try connection.run("""
                INSERT INTO rebilled_lines (line_id, customer_key, voided_at)
                SELECT l.id, i.customer_key, ? FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.id = ?
                ON CONFLICT DO NOTHING
                """, [now.sql, .text(id)])
        }
    }

    /// Lines of voided invoices still to be billed again for the customer's bill date
    /// `billDate` (voided at or before it), untaxed, in the voided invoices' order.
    public func openRebills(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)] {
        let ids = try connection.query("""
            SELECT r.line_id, l.invoice_id FROM rebilled_lines r JOIN invoice_lines l ON l.id = r.line_id
            WHERE r.customer_key = ? AND r.invoice_id IS NULL AND r.voided_at <= ? ORDER BY r.voided_at, l.invoice_id, l.position
            """, [.text(customerKey), billDate.sql])
        var result: [(id: String, line: InvoiceLine)] = []
        var linesByInvoice: [String: [StoredLine]] = [:]
        for row in ids {
            guard let lineId = row.string(0), let invoiceId = row.string(1) else { continue }
            if linesByInvoice[invoiceId] == nil { linesByInvoice[invoiceId] = try lines(invoiceId: invoiceId) }
            guard var line = linesByInvoice[invoiceId]?.first(where: { $0.id == lineId })?.line else { continue }
            line.taxAmount = 0
            line.detail = "billed again from voided \(invoiceId)" + (line.detail.isEmpty ? "" : "; " + line.detail)
            result.append((lineId, line))
        }
        return result
    }

    public func attachRebills(_ lineIds: [String], invoiceId: String) throws {
        for id in lineIds { try connection.run("UPDATE rebilled_lines SET invoice_id = ? WHERE line_id = ?", [.text(invoiceId), .text(id)]) }
    }
}
