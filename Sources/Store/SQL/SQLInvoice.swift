import Billing
import Foundation

extension SQLRepositories {
    /// Stores a draft invoice as `rated`, its lines numbered in order. Ids are derived from the
    /// customer and bill date, so the same invoice always has the same id.
    @discardableResult
    public func insertInvoice(_ draft: DraftInvoice, runId: Int64, at now: Instant) throws -> String {
        try insertInvoices([draft], runId: runId, at: now)[0]
    }

    /// Stores draft invoices as `insertInvoice` does, many rows to a statement: a statement's
    /// set-up (and its CHECKs' lists) costs more than a row. Returns their ids, in order.
    @discardableResult
    public func insertInvoices(_ drafts: [DraftInvoice], runId: Int64, at now: Instant) throws -> [String] {
        let ids = drafts.map { StoredInvoice.makeId(customerKey: $0.customerKey, billDate: $0.billDate) }
        try insertRows(ids.indices.map { index in
            let draft = drafts[index], amounts = draft.amounts, period = draft.servicePeriod
            return [.text(ids[index]), .text(draft.customerKey), draft.billDate.sql, .text(draft.currency.code),
                    SQLValue(amounts.subtotal), SQLValue(amounts.tax), SQLValue(amounts.total),
                    SQLValue(period?.start.seconds), SQLValue(period?.end.seconds), .integer(runId), now.sql, now.sql]
        }, into: """
            INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, period_start, period_end,
                                  run_id, created_at, updated_at) VALUES
            """, row: "(?, ?, ?, ?, 'rated', ?, ?, ?, ?, ?, ?, ?, ?)")
        var lines: [[SQLValue]] = []
        for (id, draft) in zip(ids, drafts) {
            for (position, line) in draft.lines.enumerated() {
                lines.append([.text("\(id)_\(position + 1)"), .text(id), .integer(Int64(position)), .text(line.kind.rawValue),
                              SQLValue(line.subscriptionId), SQLValue(line.rateCardKey), SQLValue(line.featureKey), .text(line.description),
                              line.period.start.sql, line.period.end.sql, SQLValue(line.quantity), SQLValue(line.amount),
                              .text(line.taxBehavior.rawValue), SQLValue(line.taxCode), SQLValue(line.taxAmount), .text(line.detail)])
            }
        }
        try insertRows(lines, into: """
            INSERT INTO invoice_lines (id, invoice_id, position, kind, subscription_id, rate_card_key, feature_key, description,
                                       period_start, period_end, quantity, amount, tax_behavior, tax_code, tax_amount, detail) VALUES
            """, row: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        return ids
    }

    /// Rows per INSERT of `insertRows`.
    static var rowsPerInsert: Int { 64 }

    /// Inserts `rows` with `insert` ("INSERT INTO t (...) VALUES") and `row` ("(?, ?)") repeated.
    func insertRows(_ rows: [[SQLValue]], into insert: String, row: String) throws {
        for start in stride(from: 0, to: rows.count, by: Self.rowsPerInsert) {
            let chunk = rows[start..<min(rows.count, start + Self.rowsPerInsert)]
            try connection.run(insert + " " + Array(repeating: row, count: chunk.count).joined(separator: ", "), Array(chunk.joined()))
        }
    }



    /// Writes the lines' tax, the rate applied and the invoice's totals, and moves it to `status`.
    public func updateTax(invoiceId: String, lines: [StoredLine], note: String?, applied: AppliedTax?, calculationId: String?,
                          status: InvoiceStatus, at now: Instant) throws {
        try updateTax([TaxUpdate(invoiceId: invoiceId, lines: lines, note: note, applied: applied, calculationId: calculationId)],
                      status: status, at: now)
    }

    /// `updateTax` for many invoices, many to a statement.
    public func updateTax(_ updates: [TaxUpdate], status: InvoiceStatus, at now: Instant) throws {
        var rows: [[SQLValue]] = []
        for update in updates {
            let lines = update.lines
            let amounts = TaxedAmounts(lines: lines.map { TaxedLine(amount: $0.line.amount, tax: $0.line.taxAmount, behavior: $0.line.taxBehavior) })
            // A line whose tax is already the one given is left alone: most lines of an untaxed
            // invoice keep their 0, and a write per line would double what the tax stage writes.
            for line in lines where !update.unchanged.contains(line.id) {
                try connection.run("UPDATE invoice_lines SET tax_amount = ?1 WHERE id = ?2 AND tax_amount <> ?1",
                                 [SQLValue(line.line.taxAmount), .text(line.id)])
            }
            let applied = update.applied
            rows.append([.text(update.invoiceId), SQLValue(amounts.subtotal), SQLValue(amounts.tax), SQLValue(amounts.total), SQLValue(update.note),
                         SQLValue(applied?.rate), SQLValue(applied?.name), SQLValue(applied?.country), SQLValue(applied?.state),
                         SQLValue(update.calculationId)])
        }
        for start in stride(from: 0, to: rows.count, by: Self.rowsPerInsert) {
            let chunk = rows[start..<min(rows.count, start + Self.rowsPerInsert)]
            try connection.run("""
                UPDATE invoices SET subtotal = taxed.column2, tax = taxed.column3, total = taxed.column4, tax_note = taxed.column5,
                                    tax_rate = taxed.column6, tax_rate_name = taxed.column7, tax_country = taxed.column8,
                                    tax_state = taxed.column9, tax_calculation_id = taxed.column10, status = ?1, updated_at = ?2
                FROM (VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))) AS taxed
                WHERE invoices.id = taxed.column1
                """, [.text(status.rawValue), now.sql] + Array(chunk.joined()))
        }
    }

    /// Moves an invoice to `status`, recording the failure when it is `failed`.
    public func setInvoiceStatus(_ id: String, _ status: InvoiceStatus, failure: StoredInvoice.Failure?, at now: Instant) throws {
        try connection.run("""
            UPDATE invoices SET status = ?, failure_stage = ?, failure_message = ?, failure_request_id = ?, updated_at = ? WHERE id = ?
            """, [.text(status.rawValue), SQLValue(failure?.stage), SQLValue(failure?.message), SQLValue(failure?.stripeRequestId),
                  now.sql, .text(id)])
    }

    /// The failure an invoice shows: the stage that failed it, or a payment failure whose reason
    /// the collect stage knows (`payment_failure_reason`), shown as stage `collect`.
    static var failureColumns: String {
        """
        coalesce(failure_stage, CASE WHEN payment_failure_reason IS NOT NULL THEN 'collect' END),
        coalesce(failure_message, payment_failure_reason), failure_request_id
        """
    }

    static var invoiceColumns: String {
        """
        id, customer_key, currency, bill_date, status, subtotal, tax, total, period_start, period_end, tax_note,
        stripe_invoice_id, number, hosted_invoice_url, invoice_pdf, \(Self.failureColumns),
        tax_rate, tax_rate_name, tax_country, tax_state, stripe_account, issue_started_at, issue_generation, issued_at,
        stripe_status, amount_due, amount_paid, starting_balance, attempt_count, next_payment_attempt, paid_at, payment_failed_at,
        uncollectible_at, voided_at, collected_at, tax_calculation_id, tax_transaction_id, void_reason, stripe_total
        """
    }

    /// Invoices, by bill date then customer; only those in `status` when given.
    public func invoices(status: InvoiceStatus?, withLines: Bool) throws -> [StoredInvoice] {
        let rows = try connection.query(
            "SELECT \(Self.invoiceColumns) FROM invoices \(status == nil ? "" : "WHERE status = ?") ORDER BY bill_date, customer_key",
            status.map { [.text($0.rawValue)] } ?? [])
        return try rows.map { try invoice(from: $0, withLines: withLines) }
    }

    /// The id, bill date and total of every invoice in `status`, by bill date then customer: what a
    /// stage needs to choose its work without holding every invoice in memory.
    public func invoiceTotals(status: InvoiceStatus) throws -> [(id: String, billDate: Instant, total: Decimal)] {
        try connection.query("SELECT id, bill_date, total FROM invoices WHERE status = ? ORDER BY bill_date, customer_key",
                           [.text(status.rawValue)]).map { ($0.string(0) ?? "", $0.instant(1) ?? Instant(seconds: 0), $0.decimal(2) ?? 0) }
    }

    /// Invoices whose bill date is in `[from, to)`, by bill date then customer (report ranges).
    public func invoices(billDateFrom from: Instant, to: Instant, withLines: Bool) throws -> [StoredInvoice] {
        try connection.query("""
            SELECT \(Self.invoiceColumns) FROM invoices WHERE bill_date >= ? AND bill_date < ? ORDER BY bill_date, customer_key
            """, [from.sql, to.sql]).map { try invoice(from: $0, withLines: withLines) }
    }

    /// How many lines each invoice with a bill date in `[from, to)` has, by invoice id.
    public func lineCounts(billDateFrom from: Instant, to: Instant) throws -> [String: Int] {
        Dictionary(uniqueKeysWithValues: try connection.query("""
            SELECT i.id, count(l.id) FROM invoices i LEFT JOIN invoice_lines l ON l.invoice_id = i.id
            WHERE i.bill_date >= ? AND i.bill_date < ? GROUP BY i.id
            """, [from.sql, to.sql]).map { ($0.string(0) ?? "", Int($0.int(1) ?? 0)) })
    }

    public func invoice(id: String) throws -> StoredInvoice? {
        try connection.first("SELECT \(Self.invoiceColumns) FROM invoices WHERE id = ?", [.text(id)]).map { try invoice(from: $0, withLines: true) }
    }

    func invoice(from row: Row, withLines: Bool) throws -> StoredInvoice {
        let id = row.string(0) ?? ""
        let failure = row.string(15).map { StoredInvoice.Failure(stage: $0, message: row.string(16) ?? "", stripeRequestId: row.string(17)) }
        return StoredInvoice(
            id: id, customerKey: row.string(1) ?? "", currency: Currency(code: row.string(2) ?? "") ?? .usd,
            billDate: row.instant(3) ?? Instant(seconds: 0), status: InvoiceStatus(rawValue: row.string(4) ?? "") ?? .draft,
            subtotal: row.decimal(5) ?? 0, tax: row.decimal(6) ?? 0, total: row.decimal(7) ?? 0,
            periodStart: row.instant(8), periodEnd: row.instant(9), taxNote: row.string(10), stripeInvoiceId: row.string(11),
            number: row.string(12), hostedInvoiceUrl: row.string(13), invoicePdf: row.string(14), failure: failure,
            lines: withLines ? try lines(invoiceId: id) : [],
            appliedTax: row.decimal(18).map { AppliedTax(rate: $0, name: row.string(19) ?? "", country: row.string(20), state: row.string(21)) },
            issuing: Issuing(account: row.string(22), startedAt: row.instant(23), generation: Int(row.int(24) ?? 0), issuedAt: row.instant(25)),
            payment: PaymentState(stripeStatus: row.string(26), stripeTotal: row.int(40), amountDue: row.int(27), amountPaid: row.int(28), startingBalance: row.int(29),
                                  attemptCount: Int(row.int(30) ?? 0), nextPaymentAttempt: row.instant(31), paidAt: row.instant(32),
                                  paymentFailedAt: row.instant(33), uncollectibleAt: row.instant(34), voidedAt: row.instant(35),
                                  collectedAt: row.instant(36)),
            taxCalculationId: row.string(37), taxTransactionId: row.string(38), voidReason: row.string(39))
    }

    /// The invoices of `ids` that exist, in the order given, with their lines: a few queries for
    /// many invoices.
    public func invoices(ids: [String]) throws -> [StoredInvoice] {
        var byId: [String: StoredInvoice] = [:]
        try forEachRow(keys: ids, { "SELECT \(Self.invoiceColumns) FROM invoices WHERE id IN \($0)" }) { row in
            let invoice = try invoice(from: row, withLines: false)
            byId[invoice.id] = invoice
        }
        try forEachRow(keys: ids, { "SELECT invoice_id, \(Self.lineColumns) FROM invoice_lines WHERE invoice_id IN \($0) ORDER BY invoice_id, position" }) { row in
            byId[row.string(0) ?? ""]?.lines.append(Self.storedLine(row, from: 1))
        }
        return ids.compactMap { byId[$0] }
    }

    static var lineColumns: String {
        """
        id, kind, subscription_id, rate_card_key, feature_key, description, period_start, period_end, quantity, amount,
        tax_behavior, tax_code, tax_amount, detail, stripe_item_id, stripe_lines_key
        """
    }

    public func lines(invoiceId: String) throws -> [StoredLine] {
        try connection.query("SELECT \(Self.lineColumns) FROM invoice_lines WHERE invoice_id = ? ORDER BY position", [.text(invoiceId)])
            .map { Self.storedLine($0) }
    }

    /// A row of `lineColumns`, starting at column `from`.
    static func storedLine(_ row: Row, from c: Int = 0) -> StoredLine {
        StoredLine(id: row.string(c) ?? "", line: InvoiceLine(
            kind: LineKind(rawValue: row.string(c + 1) ?? "") ?? .adjustment, subscriptionId: row.string(c + 2), rateCardKey: row.string(c + 3),
            featureKey: row.string(c + 4), description: row.string(c + 5) ?? "",
            period: Period(start: row.instant(c + 6) ?? Instant(seconds: 0), end: row.instant(c + 7) ?? Instant(seconds: 0)),
            quantity: row.decimal(c + 8), amount: row.decimal(c + 9) ?? 0,
            taxBehavior: TaxBehavior(rawValue: row.string(c + 10) ?? "") ?? .exclusive, taxCode: row.string(c + 11),
            taxAmount: row.decimal(c + 12) ?? 0, detail: row.string(c + 13) ?? ""), stripeItemId: row.string(c + 14),
            stripeLinesKey: row.string(c + 15))
    }

    /// What the usage, discount, commitment and late usage lines of every invoice not voided
    /// billed for one usage charge, plus late usage credits still carried: the base a late usage
    /// line is measured against.
    public func billedCharge(_ key: ChargeKey) throws -> Decimal {
        let carried = try connection.query("""
            SELECT amount FROM carried_credits
            WHERE subscription_id = ? AND rate_card_key = ? AND period_start = ? AND kind = 'late_usage' AND consumed_bill_date IS NULL
            """, [.text(key.subscriptionId), .text(key.rateCardKey), key.periodStart.sql])
            .reduce(Decimal(0)) { $0 + ($1.decimal(0) ?? 0) }
        return try carried + connection.query("""
            SELECT l.amount FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
            WHERE l.subscription_id = ? AND l.rate_card_key = ? AND l.period_start = ?
              AND l.kind IN ('usage', 'discount', 'commitment', 'late_usage') AND i.status <> 'void'
            """, [.text(key.subscriptionId), .text(key.rateCardKey), key.periodStart.sql])
            .reduce(Decimal(0)) { $0 + ($1.decimal(0) ?? 0) }
    }
}
