import Billing
import Foundation

// Invoices and their lines, and the lines of voided invoices billed again, as `SQLiteInvoice`
// and `SQLiteIssuing` keep them.

extension MemoryStore {
    @discardableResult
    public func insertInvoice(_ draft: DraftInvoice, runId: Int64, at now: Instant) throws -> String {
        try write { state in
            let id = StoredInvoice.makeId(customerKey: draft.customerKey, billDate: draft.billDate)
            guard state.invoices[id] == nil else { throw Constraint.primaryKey("invoices.id") }
            if state.invoices.values.contains(where: { $0.customerKey == draft.customerKey && $0.billDate == draft.billDate }) {
                throw Constraint.unique("invoices.customer_key, invoices.bill_date")
            }
            try Constraint.reference(state.customers[draft.customerKey] != nil && state.runs.contains { $0.id == runId })
            let amounts = draft.amounts
            var row = InvoiceRow(id: id, customerKey: draft.customerKey, billDate: draft.billDate, currency: draft.currency.stored, status: .rated,
                                 subtotal: amounts.subtotal.stored, tax: amounts.tax.stored, total: amounts.total.stored,
                                 periodStart: draft.servicePeriod?.start, periodEnd: draft.servicePeriod?.end, runId: runId,
                                 createdAt: now, updatedAt: now)
            for (position, line) in draft.lines.enumerated() {
                let lineId = "\(id)_\(position + 1)"
                guard state.lineInvoices[lineId] == nil else { throw Constraint.primaryKey("invoice_lines.id") }
                try Constraint.reference(line.subscriptionId.map { state.subscriptions[$0] != nil } ?? true)
                row.lines.append(LineRow(id: lineId, kind: line.kind, subscriptionId: line.subscriptionId, rateCardKey: line.rateCardKey,
                                         featureKey: line.featureKey, description: line.description, periodStart: line.period.start,
                                         periodEnd: line.period.end, quantity: line.quantity?.stored, amount: line.amount.stored,
                                         taxBehavior: line.taxBehavior, taxCode: line.taxCode, taxAmount: line.taxAmount.stored,
                                         detail: line.detail))
                state.lineInvoices[lineId] = id
            }
            state.invoices[id] = row
            if row.status.movesPayments { state.bump("payments") }
            return id
        }
    }

    public func updateTax(invoiceId: String, lines: [StoredLine], note: String?, applied: AppliedTax?, calculationId: String?,
                          status: InvoiceStatus, at now: Instant) throws {
        let amounts = TaxedAmounts(lines: lines.map { TaxedLine(amount: $0.line.amount, tax: $0.line.taxAmount, behavior: $0.line.taxBehavior) })
        try write { state in
            for line in lines { state.updateLine(line.id) { $0.taxAmount = line.line.taxAmount.stored } }
            try state.updateInvoice(invoiceId, at: now, status: true) {
                $0.subtotal = amounts.subtotal.stored
                $0.tax = amounts.tax.stored
                $0.total = amounts.total.stored
                $0.taxNote = note
                $0.taxRate = applied?.rate.stored
                $0.taxRateName = applied?.name
                $0.taxCountry = applied?.country
                $0.taxState = applied?.state
                $0.taxCalculationId = calculationId
                $0.status = status
            }
        }
    }

    public func setInvoiceStatus(_ id: String, _ status: InvoiceStatus, failure: StoredInvoice.Failure?, at now: Instant) throws {
        try write { state in
            try state.updateInvoice(id, at: now, status: true) {
                $0.status = status
                $0.failureStage = failure?.stage
                $0.failureMessage = failure?.message
                $0.failureRequestId = failure?.stripeRequestId
            }
        }
    }

    public func invoices(status: InvoiceStatus?, withLines: Bool) throws -> [StoredInvoice] {
        read { state in state.invoiceRows { status == nil || $0.status == status }.map { $0.stored(withLines: withLines) } }
    }

    public func invoiceTotals(status: InvoiceStatus) throws -> [(id: String, billDate: Instant, total: Decimal)] {
        read { state in state.invoiceRows { $0.status == status }.map { ($0.id, $0.billDate, $0.total.storedDecimal ?? 0) } }
    }

    public func invoices(billDateFrom from: Instant, to: Instant, withLines: Bool) throws -> [StoredInvoice] {
        read { state in state.invoiceRows { $0.billDate >= from && $0.billDate < to }.map { $0.stored(withLines: withLines) } }
    }

    public func lineCounts(billDateFrom from: Instant, to: Instant) throws -> [String: Int] {
        read { state in
            Dictionary(uniqueKeysWithValues: state.invoiceRows { $0.billDate >= from && $0.billDate < to }.map { ($0.id, $0.lines.count) })
        }
    }

    public func invoice(id: String) throws -> StoredInvoice? {
        read { $0.invoices[id]?.stored(withLines: true) }
    }

    public func lines(invoiceId: String) throws -> [StoredLine] {
        read { $0.invoices[invoiceId]?.lines.map(\.stored) ?? [] }
    }

    public func billedCharge(_ key: ChargeKey) throws -> Decimal {
        read { state in
            let carried = state.credits.filter {
                $0.subscriptionId == key.subscriptionId && $0.rateCardKey == key.rateCardKey && $0.periodStart == key.periodStart
                    && $0.kind == .lateUsage && $0.consumedBillDate == nil
            }.reduce(Decimal(0)) { $0 + ($1.amount.storedDecimal ?? 0) }
            let kinds: Set<LineKind> = [.usage, .discount, .commitment, .lateUsage]
            let billed = state.invoices.values.filter { $0.status != .void }.flatMap(\.lines).filter {
                $0.subscriptionId == key.subscriptionId && $0.rateCardKey == key.rateCardKey && $0.periodStart == key.periodStart
                    && kinds.contains($0.kind)
            }.reduce(Decimal(0)) { $0 + ($1.amount.storedDecimal ?? 0) }
            return carried + billed
        }
    }

    public func voidInvoice(_ id: String, reason: String, at now: Instant) throws {
        try write { state in
            // Checked again under the lock: the invoice may have been paid since it was read.
            let status = state.invoices[id]?.status
            guard let status, [.issued, .paymentFailed, .uncollectible, .void].contains(status) else {
                throw StoreInputError("invoice \(id) is \(status?.rawValue ?? "gone"): only issued, unpaid invoices are voided")
            }
            try state.updateInvoice(id, at: now, status: true) {
                $0.status = .void
                $0.voidReason = reason
                $0.voidedAt = $0.voidedAt ?? now
            }
            guard let invoice = state.invoices[id] else { return }
            for line in invoice.lines where state.rebills[line.id] == nil {
                state.rebills[line.id] = RebillRow(lineId: line.id, customerKey: invoice.customerKey, voidedAt: now)
            }
        }
    }

    public func openRebills(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)] {
        read { state in
            let open = state.rebills.values.filter { $0.customerKey == customerKey && $0.invoiceId == nil && $0.voidedAt <= billDate }
                .compactMap { rebill -> (rebill: RebillRow, invoiceId: String, position: Int, line: LineRow)? in
                    guard let invoiceId = state.lineInvoices[rebill.lineId],
                          let position = state.invoices[invoiceId]?.lines.firstIndex(where: { $0.id == rebill.lineId }),
                          let line = state.invoices[invoiceId]?.lines[position] else { return nil }
                    return (rebill, invoiceId, position, line)
                }
                .sorted {
                    if $0.rebill.voidedAt != $1.rebill.voidedAt { return $0.rebill.voidedAt < $1.rebill.voidedAt }
                    if $0.invoiceId != $1.invoiceId { return $0.invoiceId.sqlPrecedes($1.invoiceId) }
                    return $0.position < $1.position
                }
            return open.map { found in
                var line = found.line.stored.line
                line.taxAmount = 0
                line.detail = "billed again from voided \(found.invoiceId)" + (line.detail.isEmpty ? "" : "; " + line.detail)
                return (found.rebill.lineId, line)
            }
        }
    }

    public func attachRebills(_ lineIds: [String], invoiceId: String) throws {
        try write { state in
            for id in lineIds where state.rebills[id] != nil {
                try Constraint.reference(state.invoices[invoiceId] != nil)
                state.rebills[id]?.invoiceId = invoiceId
            }
        }
    }
}

extension MemoryState {
    /// Invoices that pass `filter`, by bill date then customer (SQLite's `ORDER BY bill_date, customer_key`).
    func invoiceRows(where filter: (InvoiceRow) -> Bool) -> [InvoiceRow] {
        invoices.values.filter(filter).sorted {
            $0.billDate != $1.billDate ? $0.billDate < $1.billDate : $0.customerKey.sqlPrecedes($1.customerKey)
        }
    }

    /// Changes an invoice that exists, as an `UPDATE … WHERE id = ?`; `status` says the update
    /// names `status` or `payment_failed_at`, which moves the `payments` counter where SQLite's
    /// trigger does: into or out of a status payment access reads, or a new first failure time.
    /// Returns whether there was such an invoice.
    @discardableResult
    mutating func updateInvoice(_ id: String, at now: Instant?, status: Bool, _ change: (inout InvoiceRow) -> Void) throws -> Bool {
        guard let old = invoices[id] else { return false }
        var row = old
        change(&row)
        if let now { row.updatedAt = now }
        try row.check()
        invoices[id] = row
        if status, old.status.movesPayments || row.status.movesPayments || old.paymentFailedAt != row.paymentFailedAt {
            bump("payments")
        }
        return true
    }

    mutating func updateLine(_ id: String, _ change: (inout LineRow) -> Void) {
        guard let invoiceId = lineInvoices[id], let index = invoices[invoiceId]?.lines.firstIndex(where: { $0.id == id }) else { return }
        change(&invoices[invoiceId]!.lines[index])
    }
}

extension InvoiceRow {
    /// The schema's checks on an invoice row.
    func check() throws {
        guard (status == .failed) == (failureStage != nil) else { throw Constraint.check("(status = 'failed') = (failure_stage IS NOT NULL)") }
        if let failureStage, Stage(rawValue: failureStage) == nil {
            throw Constraint.check("failure_stage IS NULL OR failure_stage IN (\(Schema.stages))")
        }
        guard issueGeneration >= 0, attemptCount >= 0 else { throw Constraint.check("attempt_count >= 0") }
    }

    /// The failure an invoice shows: the stage that failed it, or a payment failure whose reason
    /// the collect stage knows, shown at stage `collect` (SQLite's `failureColumns`).
    var failure: StoredInvoice.Failure? {
        (failureStage ?? (paymentFailureReason != nil ? "collect" : nil)).map {
            StoredInvoice.Failure(stage: $0, message: failureMessage ?? paymentFailureReason ?? "", stripeRequestId: failureRequestId)
        }
    }

    func stored(withLines: Bool) -> StoredInvoice {
        StoredInvoice(
            id: id, customerKey: customerKey, currency: currency, billDate: billDate, status: status,
            subtotal: subtotal.storedDecimal ?? 0, tax: tax.storedDecimal ?? 0, total: total.storedDecimal ?? 0,
            periodStart: periodStart, periodEnd: periodEnd, taxNote: taxNote, stripeInvoiceId: stripeInvoiceId, number: number,
            hostedInvoiceUrl: hostedInvoiceUrl, invoicePdf: invoicePdf, failure: failure,
            lines: withLines ? lines.map(\.stored) : [],
            appliedTax: taxRate?.storedDecimal.map { AppliedTax(rate: $0, name: taxRateName ?? "", country: taxCountry, state: taxState) },
            issuing: Issuing(account: stripeAccount, startedAt: issueStartedAt, generation: issueGeneration, issuedAt: issuedAt),
            payment: PaymentState(stripeStatus: stripeStatus, stripeTotal: stripeTotal, amountDue: amountDue, amountPaid: amountPaid,
                                  startingBalance: startingBalance, attemptCount: attemptCount, nextPaymentAttempt: nextPaymentAttempt,
                                  paidAt: paidAt, paymentFailedAt: paymentFailedAt, uncollectibleAt: uncollectibleAt, voidedAt: voidedAt,
                                  collectedAt: collectedAt),
            taxCalculationId: taxCalculationId, taxTransactionId: taxTransactionId, voidReason: voidReason)
    }
}

extension LineRow {
    var stored: StoredLine {
        StoredLine(id: id, line: InvoiceLine(
            kind: kind, subscriptionId: subscriptionId, rateCardKey: rateCardKey, featureKey: featureKey, description: description,
            period: Period(start: periodStart, end: periodEnd), quantity: quantity?.storedDecimal, amount: amount.storedDecimal ?? 0,
            taxBehavior: taxBehavior, taxCode: taxCode, taxAmount: taxAmount.storedDecimal ?? 0, detail: detail),
            stripeItemId: stripeItemId, stripeLinesKey: stripeLinesKey)
    }
}

extension InvoiceStatus {
    /// The statuses payment access reads (`blockingPaymentFacts`): entering or leaving one moves
    /// the `payments` counter.
    var movesPayments: Bool { self == .paymentFailed || self == .uncollectible }
}
