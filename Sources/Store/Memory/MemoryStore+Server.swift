import Billing
import Foundation

// What the server and the reports read: credentials, change tracking, and the finance reports'
// streams, as `SQLiteCredential` and `SQLiteReports` keep them.

extension MemoryStore {
    // MARK: Service tokens

    public func insertToken(id: String, name: String, scope: TokenScope, digest: String, last4: String, at now: Instant) throws {
        try write { state in
            guard state.tokens[id] == nil else { throw Constraint.primaryKey("service_tokens.id") }
            guard !state.tokens.values.contains(where: { $0.digest == digest }) else { throw Constraint.unique("service_tokens.digest") }
            state.tokens[id] = StoredToken(id: id, name: name, scope: scope, digest: digest, last4: last4, createdAt: now, revokedAt: nil)
            state.bump("credentials")
        }
    }

    public func tokens() throws -> [StoredToken] {
        read { state in state.tokens.values.sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id.sqlPrecedes($1.id) } }
    }

    public func revokeToken(id: String, at now: Instant) throws -> Bool {
        try write { state in
            guard state.tokens[id]?.revokedAt == nil, state.tokens[id] != nil else { return false }
            state.tokens[id]?.revokedAt = now
            state.bump("credentials")
            return true
        }
    }

    public func tokenExists(id: String) throws -> Bool { read { $0.tokens[id] != nil } }

    // MARK: API keys

    public func insertAPIKey(id: String, customerKey: String, digest: String, last4: String, at now: Instant) throws {
        try write { try $0.insertAPIKey(id: id, customerKey: customerKey, digest: digest, last4: last4, at: now) }
    }

    public func apiKeys(customerKey: String?) throws -> [StoredAPIKey] {
        read { state in
            state.apiKeys.values.filter { customerKey == nil || $0.customerKey == customerKey }
                .sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id.sqlPrecedes($1.id) }
        }
    }

    public func revokeAPIKey(id: String, customerKey: String, at now: Instant) throws -> Bool {
        try write { state in
            guard let key = state.apiKeys[id], key.customerKey == customerKey, key.revokedAt == nil else { return false }
            state.apiKeys[id]?.revokedAt = now
            state.bump("credentials")
            return true
        }
    }

    // MARK: What the server watches

    public func changeCounters() throws -> [String: Int64] { read { $0.counters } }

    public func ingestBatches(after id: Int64) throws -> [Int64] { read { $0.batches.keys.filter { $0 > id }.sorted() } }

    public func blockingPaymentFacts() throws -> [String: [InvoicePaymentFacts]] {
        read { state in
            var result: [String: [InvoicePaymentFacts]] = [:]
            for row in state.invoices.values.filter({ $0.status == .paymentFailed || $0.status == .uncollectible })
                .sorted(by: { $0.id.sqlPrecedes($1.id) }) {
                result[row.customerKey, default: []].append(InvoicePaymentFacts(id: row.id, status: row.status,
                                                                                firstPaymentFailureAt: row.paymentFailedAt))
            }
            return result
        }
    }

    // MARK: Reports

    /// Streams from a copy taken under the lock, so `body` may call the store.
    public func forEachReportInvoice(billDateFrom from: Instant, to: Instant, _ body: (ReportInvoice) throws -> Void) throws {
        for row in read({ $0.invoiceRows { $0.billDate >= from && $0.billDate < to } }) {
            let id = row.id, currency = row.currency
            try body(ReportInvoice(
                id: id, customerKey: row.customerKey, currency: currency, billDate: row.billDate, periodStart: row.periodStart,
                periodEnd: row.periodEnd, status: row.status,
                subtotal: try ExactText.minorUnits(row.subtotal, currency, what: "subtotal of \(id)"),
                tax: try ExactText.minorUnits(row.tax, currency, what: "tax of \(id)"),
                total: try ExactText.minorUnits(row.total, currency, what: "total of \(id)"),
                stripeInvoiceId: row.stripeInvoiceId, stripeTotal: row.stripeTotal, number: row.number, paidAt: row.paidAt,
                failure: row.failure))
        }
    }

    public func forEachReportLine(billDateFrom from: Instant, to: Instant, _ body: (ReportLine) throws -> Void) throws {
        let (invoices, plans) = read { state in
            (state.invoiceRows { $0.billDate >= from && $0.billDate < to }, state.subscriptions.mapValues(\.planKey))
        }
        for invoice in invoices {
            let appliedTax = try invoice.taxRate.map {
                AppliedTax(rate: try ExactText.decimal($0, what: "tax rate of \(invoice.id)"), name: invoice.taxRateName ?? "",
                           country: invoice.taxCountry, state: invoice.taxState)
            }
            for row in invoice.lines {
                let id = row.id
                try body(ReportLine(
                    id: id, invoiceId: invoice.id, invoiceStatus: invoice.status, customerKey: invoice.customerKey, billDate: invoice.billDate,
                    currency: invoice.currency, kind: row.kind, planKey: row.subscriptionId.flatMap { plans[$0] }, rateCardKey: row.rateCardKey,
                    featureKey: row.featureKey, description: row.description, period: Period(start: row.periodStart, end: row.periodEnd),
                    quantity: try row.quantity.map { try ExactText.decimal($0, what: "quantity of line \(id)") },
                    amount: try ExactText.minorUnits(row.amount, invoice.currency, what: "amount of line \(id)"),
                    tax: try ExactText.minorUnits(row.taxAmount, invoice.currency, what: "tax of line \(id)"),
                    taxBehavior: row.taxBehavior, detail: row.detail, appliedTax: appliedTax))
            }
        }
    }

    public func featureMeters() throws -> [String: String] {
        read { state in state.features.values.reduce(into: [:]) { result, feature in result[feature.key] = feature.meterSlug } }
    }

    public func carriedCredits(at to: Instant) throws -> [ReportCredit] {
        try read { state in
            try state.credits.filter { credit in
                credit.createdBillDate < to && (credit.consumedBillDate.map { $0 >= to } ?? true) && state.customers[credit.customerKey] != nil
            }.sorted { $0.customerKey != $1.customerKey ? $0.customerKey.sqlPrecedes($1.customerKey) : $0.id < $1.id }.map { credit in
                let currency = state.customers[credit.customerKey]?.customer.currency?.code
                    ?? state.invoices.values.filter { $0.customerKey == credit.customerKey }.max { $0.billDate < $1.billDate }?.currency.code
                return ReportCredit(customerKey: credit.customerKey, currency: currency.flatMap { Currency(code: $0) }, kind: credit.kind,
                                    rateCardKey: credit.rateCardKey, description: credit.description,
                                    amount: try ExactText.decimal(credit.amount, what: "carried credit"), originBillDate: credit.originBillDate)
            }
        }
    }
}

extension MemoryState {
    /// Stores a customer's new key and makes its id one of the customer's usage subjects.
    mutating func insertAPIKey(id: String, customerKey: String, digest: String, last4: String, at now: Instant) throws {
        guard customers[customerKey] != nil else { throw StoreInputError("no customer \(customerKey)") }
        guard apiKeys[id] == nil else { throw Constraint.primaryKey("api_keys.id") }
        guard !apiKeys.values.contains(where: { $0.digest == digest }) else { throw Constraint.unique("api_keys.digest") }
        guard subjects[id] == nil else { throw Constraint.primaryKey("customer_subjects.subject") }
        apiKeys[id] = StoredAPIKey(id: id, customerKey: customerKey, digest: digest, last4: last4, createdAt: now, revokedAt: nil)
        bump("credentials")
        subjects[id] = customerKey
        bump("attribution")
    }
}
