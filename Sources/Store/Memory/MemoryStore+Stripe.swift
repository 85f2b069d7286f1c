import Billing
import Foundation

// What issuing and collecting learn from Stripe, and the webhook inbox, as `SQLiteIssuing` and
// `SQLiteStripeInbox` keep them.

extension MemoryStore {
    // MARK: Stripe Customers

    public func stripeCustomer(customerKey: String, account: String) throws -> StripeCustomerRecord? {
        read { state in
            state.stripeCustomers[StripeCustomerKey(customerKey: customerKey, account: account)].map { row in
                row.stripeId.map { .created($0, digest: row.syncedDigest) } ?? .requested
            }
        }
    }

    public func requestStripeCustomer(customerKey: String, account: String, at now: Instant) throws {
        try write { state in
            let key = StripeCustomerKey(customerKey: customerKey, account: account)
            guard state.stripeCustomers[key] == nil else { return }
            try Constraint.reference(state.customers[customerKey] != nil)
            state.stripeCustomers[key] = StripeCustomerRow(requestedAt: now)
        }
    }

    public func recordStripeCustomer(customerKey: String, account: String, stripeId: String, digest: String?, at now: Instant) throws {
        try write { state in
            let key = StripeCustomerKey(customerKey: customerKey, account: account)
            if state.stripeCustomers.contains(where: { $0.key != key && $0.value.stripeId == stripeId }) {
                throw Constraint.unique("stripe_customers.stripe_id")
            }
            if var row = state.stripeCustomers[key] {
                row.stripeId = stripeId
                row.createdAt = row.createdAt ?? now
                row.syncedDigest = digest
                state.stripeCustomers[key] = row
            } else {
                try Constraint.reference(state.customers[customerKey] != nil)
                state.stripeCustomers[key] = StripeCustomerRow(stripeId: stripeId, requestedAt: now, createdAt: now, syncedDigest: digest)
            }
        }
    }

    public func paymentMethodsToCheck(customerKey: String, account: String) throws -> Bool {
        read { $0.stripeCustomers[StripeCustomerKey(customerKey: customerKey, account: account)]?.paymentMethodsToCheck ?? true }
    }

    public func recordPaymentMethodsChecked(customerKey: String, account: String, defaultPaymentMethod: String?) throws {
        try write { state in
            let key = StripeCustomerKey(customerKey: customerKey, account: account)
            guard var row = state.stripeCustomers[key] else { return }
            row.paymentMethodsToCheck = false
            row.defaultPaymentMethod = defaultPaymentMethod ?? row.defaultPaymentMethod
            state.stripeCustomers[key] = row
        }
    }

    public func requestPaymentMethodsCheck(customerKey: String, account: String) throws {
        try write { state in
            state.stripeCustomers[StripeCustomerKey(customerKey: customerKey, account: account)]?.paymentMethodsToCheck = true
        }
    }

    // MARK: Issuing

    public func startIssuing(invoiceId: String, account: String, at now: Instant) throws {
        try write { state in
            guard let status = state.invoices[invoiceId]?.status, status == .taxed || status == .issuing else { return }
            try state.updateInvoice(invoiceId, at: now, status: true) {
                $0.status = .issuing
                $0.stripeAccount = account
                $0.issueStartedAt = $0.issueStartedAt ?? now
            }
        }
    }

    public func recordStripeInvoice(invoiceId: String, stripeId: String, at now: Instant) throws {
        try write { state in
            if state.invoices.values.contains(where: { $0.id != invoiceId && $0.stripeInvoiceId == stripeId }) {
                throw Constraint.unique("invoices.stripe_invoice_id")
            }
            try state.updateInvoice(invoiceId, at: now, status: false) { $0.stripeInvoiceId = stripeId }
        }
    }

    public func recordStripeItem(lineId: String, itemId: String) throws {
        try write { state in
            if state.invoices.values.contains(where: { $0.lines.contains { $0.id != lineId && $0.stripeItemId == itemId } }) {
                throw Constraint.unique("invoice_lines.stripe_item_id")
            }
            state.updateLine(lineId) { $0.stripeItemId = itemId }
        }
    }

    public func recordStripeLines(lineIds: [String], key: String) throws {
        try write { state in
            for id in lineIds { state.updateLine(id) { $0.stripeLinesKey = key } }
        }
    }

    public func markIssued(invoiceId: String, number: String?, hostedInvoiceUrl: String?, invoicePdf: String?, stripeTotal: Int64,
                           at now: Instant) throws {
        try write { state in
            try state.updateInvoice(invoiceId, at: now, status: true) {
                $0.status = .issued
                $0.number = number
                $0.hostedInvoiceUrl = hostedInvoiceUrl
                $0.invoicePdf = invoicePdf
                $0.stripeTotal = stripeTotal
                $0.issuedAt = $0.issuedAt ?? now
                $0.failureStage = nil
                $0.failureMessage = nil
                $0.failureRequestId = nil
            }
        }
    }

    public func recordStripeTotal(invoiceId: String, _ total: Int64) throws {
        try write { state in try state.updateInvoice(invoiceId, at: nil, status: false) { $0.stripeTotal = total } }
    }

    public func recordTaxTransaction(invoiceId: String, transactionId: String) throws {
        try write { state in try state.updateInvoice(invoiceId, at: nil, status: false) { $0.taxTransactionId = transactionId } }
    }

    public func invoicesAwaitingTaxTransaction() throws -> [StoredInvoice] {
        read { state in
            state.invoiceRows {
                $0.taxCalculationId != nil && $0.taxTransactionId == nil && [.issued, .paid, .paymentFailed, .uncollectible].contains($0.status)
            }.map { $0.stored(withLines: false) }
        }
    }

    public func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                              at now: Instant) throws {
        try write { state in try state.recordPayment(invoiceId: invoiceId, status: status, payment: payment, failureReason: failureReason, at: now) }
    }

    public func collectableInvoices() throws -> [StoredInvoice] {
        read { state in
            state.invoiceRows { ($0.status == .issued || $0.status == .paymentFailed) && $0.stripeInvoiceId != nil }
                .map { $0.stored(withLines: false) }
        }
    }

    public func resumeFailed(invoiceId: String, at now: Instant) throws -> String? {
        try write { state in
            guard let row = state.invoices[invoiceId], row.status == .failed, let stage = row.failureStage else { return nil }
            let status: InvoiceStatus
            switch stage {
            case "tax": status = .rated
            case "issue": status = row.issueStartedAt == nil ? .taxed : .issuing
            default: return nil
            }
            try state.updateInvoice(invoiceId, at: now, status: true) {
                $0.status = status
                $0.failureStage = nil
                $0.failureMessage = nil
                $0.failureRequestId = nil
                $0.issueGeneration += 1
            }
            return stage
        }
    }

    // MARK: The webhook inbox

    @discardableResult
    public func receiveStripeEvent(_ event: InboxEvent) throws -> Bool {
        try write { state in
            guard state.stripeEvents[event.id] == nil else { return false }
            // Stored as SQLite stores it: attempts and outcome start empty whatever the value says.
            state.stripeEvents[event.id] = InboxEvent(id: event.id, type: event.type, account: event.account, objectId: event.objectId,
                                                      created: event.created, livemode: event.livemode, payload: event.payload,
                                                      receivedAt: event.receivedAt)
            return true
        }
    }

    public func stripeEvent(id: String) throws -> InboxEvent? { read { $0.stripeEvents[id] } }

    public func waitingStripeEvents(limit: Int) throws -> [InboxEvent] {
        read { state in
            let waiting = state.sortedEvents().filter { $0.appliedAt == nil }
            return Array(limit < 0 ? waiting[...] : waiting.prefix(limit))
        }
    }

    public func stripeEvents() throws -> [InboxEvent] { read { $0.sortedEvents() } }

    public func recordStripeEventAttempt(id: String, done: Bool, outcome: String, at now: Instant) throws {
        try write { state in
            guard var event = state.stripeEvents[id], event.appliedAt == nil else { return }
            event.attempts += 1
            event.outcome = outcome
            event.appliedAt = done ? now : nil
            state.stripeEvents[id] = event
        }
    }

    public func invoice(stripeInvoiceId stripeId: String) throws -> (invoice: StoredInvoice, lastEventCreated: Instant?)? {
        read { state in
            state.invoices.values.first { $0.stripeInvoiceId == stripeId }.map { ($0.stored(withLines: true), $0.stripeEventCreated) }
        }
    }

    public func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                              eventCreated: Instant, at now: Instant) throws {
        try write { state in
            try state.recordPayment(invoiceId: invoiceId, status: status, payment: payment, failureReason: failureReason, at: now)
            try state.updateInvoice(invoiceId, at: nil, status: false) {
                $0.stripeEventCreated = Instant(seconds: max($0.stripeEventCreated?.seconds ?? 0, eventCreated.seconds))
            }
        }
    }

    public func customerKey(stripeCustomerId stripeId: String) throws -> String? {
        read { $0.stripeCustomers.first { $0.value.stripeId == stripeId }?.key.customerKey }
    }

    public func defaultPaymentMethod(customerKey: String, account: String) throws -> String? {
        read { $0.stripeCustomers[StripeCustomerKey(customerKey: customerKey, account: account)]?.defaultPaymentMethod }
    }
}

extension MemoryState {
    mutating func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                                at now: Instant) throws {
        try updateInvoice(invoiceId, at: now, status: true) {
            $0.status = status
            $0.stripeStatus = payment.stripeStatus
            $0.stripeTotal = payment.stripeTotal ?? $0.stripeTotal
            $0.amountDue = payment.amountDue
            $0.amountPaid = payment.amountPaid
            $0.startingBalance = payment.startingBalance
            $0.attemptCount = payment.attemptCount
            $0.nextPaymentAttempt = payment.nextPaymentAttempt
            $0.paidAt = payment.paidAt
            $0.paymentFailedAt = payment.paymentFailedAt
            $0.uncollectibleAt = payment.uncollectibleAt
            $0.voidedAt = payment.voidedAt
            $0.collectedAt = payment.collectedAt
            $0.paymentFailureReason = failureReason
        }
    }

    /// Every stored event, oldest first by Stripe's time, then id.
    func sortedEvents() -> [InboxEvent] {
        stripeEvents.values.sorted { $0.created != $1.created ? $0.created < $1.created : $0.id.sqlPrecedes($1.id) }
    }
}
