import Billing
import Foundation

/// A stored invoice with its lines.
public struct StoredInvoice: Hashable, Sendable {
    public struct Failure: Hashable, Sendable {
        public var stage: String
        public var message: String
        public var stripeRequestId: String?

        public init(stage: String, message: String, stripeRequestId: String? = nil) {
            self.stage = stage
            self.message = message
            self.stripeRequestId = stripeRequestId
        }
    }

    public var id: String
    public var customerKey: String
    public var currency: Currency
    public var billDate: Instant
    public var status: InvoiceStatus
    public var subtotal: Decimal
    public var tax: Decimal
    public var total: Decimal
    public var periodStart: Instant?
    public var periodEnd: Instant?
    public var taxNote: String?
    public var stripeInvoiceId: String?
    public var number: String?
    public var hostedInvoiceUrl: String?
    public var invoicePdf: String?
    public var failure: Failure?
    public var lines: [StoredLine]
    /// The rate the tax stage applied; nil when the invoice carries no tax.
    public var appliedTax: AppliedTax? = nil
    public var issuing = Issuing()
    public var payment = PaymentState()
    /// With `tax.provider: stripe`: the Tax Calculation behind the lines' tax, and the Tax
    /// Transaction recorded from it once the invoice was issued.
    public var taxCalculationId: String? = nil
    public var taxTransactionId: String? = nil
    /// Why it was voided (`invoices void`).
    public var voidReason: String? = nil
}

/// What the tax stage writes for one invoice: its lines with their tax (those in `unchanged`
/// already carry it), the note, the rate applied and the Stripe Tax Calculation.
public struct TaxUpdate: Sendable {
    public var invoiceId: String
    public var lines: [StoredLine]
    public var unchanged: Set<String>
    public var note: String?
    public var applied: AppliedTax?
    public var calculationId: String?

    public init(invoiceId: String, lines: [StoredLine], unchanged: Set<String> = [], note: String?, applied: AppliedTax?,
                calculationId: String?) {
        self.invoiceId = invoiceId
        self.lines = lines
        self.unchanged = unchanged
        self.note = note
        self.applied = applied
        self.calculationId = calculationId
    }
}

/// A tax rate as the tax stage applied it to an invoice.
public struct AppliedTax: Hashable, Sendable {
    /// A fraction: 0.19 for 19%.
    public var rate: Decimal
    public var name: String
    public var country: String?
    public var state: String?

    public init(rate: Decimal, name: String, country: String?, state: String?) {
        self.rate = rate
        self.name = name
        self.country = country
        self.state = state
    }
}

/// Where issuing an invoice to Stripe stands.
public struct Issuing: Hashable, Sendable {
    /// The Stripe account it was issued to.
    public var account: String?
    /// When its first Stripe call was about to be made: from then on, objects of it may exist
    /// in Stripe that the store does not name yet.
    public var startedAt: Instant?
    /// How many times `rerun` resumed it; each generation sends fresh idempotency keys.
    public var generation: Int = 0
    /// When Stripe finalized it.
    public var issuedAt: Instant?

    public init(account: String? = nil, startedAt: Instant? = nil, generation: Int = 0, issuedAt: Instant? = nil) {
        self.account = account
        self.startedAt = startedAt
        self.generation = generation
        self.issuedAt = issuedAt
    }
}

/// Payment state as the collect stage last read it from Stripe. Amounts in minor units.
public struct PaymentState: Hashable, Sendable {
    /// Stripe's own status (`open`, `paid`, `void`, `uncollectible`).
    public var stripeStatus: String?
    /// Stripe's total, minor units, as last reported.
    public var stripeTotal: Int64?
    public var amountDue: Int64?
    public var amountPaid: Int64?
    /// The customer balance Stripe applied (negative: a credit it carried).
    public var startingBalance: Int64?
    public var attemptCount: Int = 0
    public var nextPaymentAttempt: Instant?
    public var paidAt: Instant?
    /// The first payment failure recorded: the grace period counts from here.
    public var paymentFailedAt: Instant?
    public var uncollectibleAt: Instant?
    public var voidedAt: Instant?
    /// When Stripe was last asked.
    public var collectedAt: Instant?

    public init(stripeStatus: String? = nil, stripeTotal: Int64? = nil, amountDue: Int64? = nil, amountPaid: Int64? = nil, startingBalance: Int64? = nil,
                attemptCount: Int = 0, nextPaymentAttempt: Instant? = nil, paidAt: Instant? = nil, paymentFailedAt: Instant? = nil,
                uncollectibleAt: Instant? = nil, voidedAt: Instant? = nil, collectedAt: Instant? = nil) {
        self.stripeStatus = stripeStatus
        self.stripeTotal = stripeTotal
        self.amountDue = amountDue
        self.amountPaid = amountPaid
        self.startingBalance = startingBalance
        self.attemptCount = attemptCount
        self.nextPaymentAttempt = nextPaymentAttempt
        self.paidAt = paidAt
        self.paymentFailedAt = paymentFailedAt
        self.uncollectibleAt = uncollectibleAt
        self.voidedAt = voidedAt
        self.collectedAt = collectedAt
    }
}

extension StoredInvoice {
    /// "inv_acme_20260501": readable, stable, unique per customer and bill date.
    public static func makeId(customerKey: String, billDate: Instant) -> String {
        let c = billDate.civil
        let stamp = digits(c.year, 4) + digits(c.month, 2) + digits(c.day, 2)
            + (c.hour == 0 && c.minute == 0 && c.second == 0 ? "" : "T" + digits(c.hour, 2) + digits(c.minute, 2) + digits(c.second, 2))
        return "inv_\(customerKey)_\(stamp)"
    }

    /// `String(format: "%0<width>d", value)`, without Foundation's formatter (an id per invoice).
    static func digits(_ value: Int, _ width: Int) -> String {
        guard value >= 0 else { return String(format: "%0\(width)d", value) }
        let text = String(value)
        return text.count < width ? String(repeating: "0", count: width - text.count) + text : text
    }

    /// A draft shown as an invoice that was never stored (`invoices preview`): status draft.
    public init(preview draft: DraftInvoice) {
        let amounts = draft.amounts
        self.init(id: StoredInvoice.makeId(customerKey: draft.customerKey, billDate: draft.billDate) + "_preview",
                  customerKey: draft.customerKey, currency: draft.currency, billDate: draft.billDate, status: .draft,
                  subtotal: amounts.subtotal, tax: amounts.tax, total: amounts.total, periodStart: draft.servicePeriod?.start,
                  periodEnd: draft.servicePeriod?.end, taxNote: nil, stripeInvoiceId: nil, number: nil, hostedInvoiceUrl: nil,
                  invoicePdf: nil, failure: nil,
                  lines: draft.lines.enumerated().map { StoredLine(id: "preview_\($0.offset + 1)", line: $0.element) })
    }
}

public struct StoredLine: Hashable, Sendable {
    public var id: String
    public var line: InvoiceLine
    /// The Stripe invoice item made for it (`ii_…`), when known.
    public var stripeItemId: String?
    /// The idempotency key of the `add_lines` call that put it on its Stripe invoice.
    public var stripeLinesKey: String?

    public init(id: String, line: InvoiceLine, stripeItemId: String? = nil, stripeLinesKey: String? = nil) {
        self.id = id
        self.line = line
        self.stripeItemId = stripeItemId
        self.stripeLinesKey = stripeLinesKey
    }

    /// Stripe answered a call that put it on the invoice.
    public var isOnStripe: Bool { stripeItemId != nil || stripeLinesKey != nil }
}

/// Invoices and their lines, from the rate stage's draft to the last payment state.
public protocol InvoiceRepository: AnyObject {
    /// Stores a draft invoice as `rated`, its lines numbered in order; returns its id
    /// (`StoredInvoice.makeId`).
    @discardableResult
    func insertInvoice(_ draft: DraftInvoice, runId: Int64, at now: Instant) throws -> String
    /// Stores draft invoices as `insertInvoice` does each; returns their ids, in order.
    @discardableResult
    func insertInvoices(_ drafts: [DraftInvoice], runId: Int64, at now: Instant) throws -> [String]
    /// Writes the lines' tax, the rate applied and the invoice's totals, and moves it to `status`.
    func updateTax(invoiceId: String, lines: [StoredLine], note: String?, applied: AppliedTax?, calculationId: String?,
                   status: InvoiceStatus, at now: Instant) throws
    /// `updateTax` for many invoices; lines named in an update's `unchanged` already carry the
    /// tax given.
    func updateTax(_ updates: [TaxUpdate], status: InvoiceStatus, at now: Instant) throws
    /// Moves an invoice to `status`, with the stage that failed when it is `failed`.
    func setInvoiceStatus(_ id: String, _ status: InvoiceStatus, failure: StoredInvoice.Failure?, at now: Instant) throws
    /// Invoices (in `status` when given) by bill date then customer.
    func invoices(status: InvoiceStatus?, withLines: Bool) throws -> [StoredInvoice]
    /// The id, bill date and total of every invoice in `status`, by bill date then customer.
    func invoiceTotals(status: InvoiceStatus) throws -> [(id: String, billDate: Instant, total: Decimal)]
    /// Invoices with a bill date in `[from, to)`.
    func invoices(billDateFrom from: Instant, to: Instant, withLines: Bool) throws -> [StoredInvoice]
    /// How many lines each invoice with a bill date in `[from, to)` has, by invoice id.
    func lineCounts(billDateFrom from: Instant, to: Instant) throws -> [String: Int]
    func invoice(id: String) throws -> StoredInvoice?
    /// The invoices of `ids` that exist, in the order given, with their lines.
    func invoices(ids: [String]) throws -> [StoredInvoice]
    func lines(invoiceId: String) throws -> [StoredLine]
    /// What every invoice not voided billed for one usage charge, plus late usage credits still
    /// carried: the base a late usage line is measured against.
    func billedCharge(_ key: ChargeKey) throws -> Decimal
    /// Voids an invoice and marks its lines to be billed again.
    func voidInvoice(_ id: String, reason: String, at now: Instant) throws
    /// Lines of voided invoices waiting to be billed again, before `billDate`.
    func openRebills(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)]
    func attachRebills(_ lineIds: [String], invoiceId: String) throws
}

extension InvoiceRepository {
    public func updateTax(invoiceId: String, lines: [StoredLine], note: String?, applied: AppliedTax? = nil,
                          status: InvoiceStatus, at now: Instant) throws {
        try updateTax(invoiceId: invoiceId, lines: lines, note: note, applied: applied, calculationId: nil, status: status, at: now)
    }

    public func setInvoiceStatus(_ id: String, _ status: InvoiceStatus, at now: Instant) throws {
        try setInvoiceStatus(id, status, failure: nil, at: now)
    }

    public func invoices(status: InvoiceStatus? = nil) throws -> [StoredInvoice] {
        try invoices(status: status, withLines: true)
    }

    public func invoices(billDateFrom from: Instant, to: Instant) throws -> [StoredInvoice] {
        try invoices(billDateFrom: from, to: to, withLines: true)
    }
}
