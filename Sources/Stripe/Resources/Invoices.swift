import Billing
import Foundation

/// A Stripe invoice. Amounts are integers of the currency's minor units.
public struct StripeInvoice: StripeObject, Hashable {
    public struct StatusTransitions: Hashable, Sendable, Decodable {
        public var finalizedAt: Int64?
        public var paidAt: Int64?
        public var voidedAt: Int64?
        public var markedUncollectibleAt: Int64?
    }

    /// Why Stripe could not finalize it (`invoice.finalization_failed`).
    public struct FinalizationError: Hashable, Sendable, Decodable {
        public var type: String
        public var code: String?
        public var message: String?
        public var param: String?
    }

    public var id: String
    public var customer: String
    public var status: StripeInvoiceStatus?
    public var currency: String
    public var subtotal: Int64
    public var subtotalExcludingTax: Int64?
    public var total: Int64
    public var totalExcludingTax: Int64?
    public var totalTaxes: [StripeInvoiceTax]?
    public var amountDue: Int64
    public var amountPaid: Int64
    public var amountRemaining: Int64
    public var amountOverpaid: Int64?
    /// The customer balance applied: negative for a credit Stripe carried, such as an amount
    /// below Stripe's minimum charge on an earlier invoice.
    public var startingBalance: Int64
    public var endingBalance: Int64?
    public var attemptCount: Int
    public var attempted: Bool
    public var autoAdvance: Bool
    public var nextPaymentAttempt: Int64?
    public var collectionMethod: CollectionMethod
    public var number: String?
    public var description: String?
    public var hostedInvoiceUrl: String?
    public var invoicePdf: String?
    public var created: Int64
    public var periodStart: Int64
    public var periodEnd: Int64
    public var dueDate: Int64?
    public var livemode: Bool
    public var metadata: [String: String]?
    public var statusTransitions: StatusTransitions
    public var lastFinalizationError: FinalizationError?
    /// The first page of lines; `allInvoiceLines` reads the rest.
    public var lines: StripeList<StripeInvoiceLine>
}

public enum StripeInvoiceStatus: String, Hashable, Sendable, Decodable {
    case draft, open, paid, uncollectible, void
}

public enum CollectionMethod: String, Hashable, Sendable, Decodable {
    case chargeAutomatically = "charge_automatically"
    case sendInvoice = "send_invoice"
}

/// One tax on an invoice or a line.
public struct StripeInvoiceTax: Hashable, Sendable, Decodable {
    public struct RateDetails: Hashable, Sendable, Decodable {
        /// The tax rate's id (`txr_…`).
        public var taxRate: String
    }

    public var amount: Int64
    public var taxBehavior: String
    public var taxabilityReason: String
    public var taxableAmount: Int64?
    public var type: String
    public var taxRateDetails: RateDetails?
}

/// A line of an invoice (Stripe's `line_item`). A line made from an invoice item names it in
/// `parent.invoice_item_details.invoice_item`.
public struct StripeInvoiceLine: StripeObject, Hashable {
    public struct Parent: Hashable, Sendable, Decodable {
        public struct InvoiceItemDetails: Hashable, Sendable, Decodable {
            public var invoiceItem: String
            public var proration: Bool
        }

        public var type: String
        public var invoiceItemDetails: InvoiceItemDetails?
    }

    public var id: String
    public var invoice: String?
    public var amount: Int64
    public var subtotal: Int64
    public var currency: String
    public var description: String?
    public var quantity: Int?
    public var period: StripePeriod
    public var taxes: [StripeInvoiceTax]?
    public var parent: Parent?
    public var livemode: Bool
    public var metadata: [String: String]

    /// The invoice item this line shows, if it came from one.
    public var invoiceItem: String? { parent?.invoiceItemDetails?.invoiceItem }
}

/// POST /v1/invoices. Tollbooth creates drafts it fills with items and finalizes itself, so
/// `autoAdvance` defaults to false and pending items of the customer are left out.
public struct InvoiceCreate: Hashable, Sendable, FormEncodable {
    public enum PendingItems: String, Hashable, Sendable { case exclude, include }

    public var customer: String
    public var currency: Currency?
    public var autoAdvance: Bool
    public var collectionMethod: CollectionMethod?
    /// Required by Stripe with `sendInvoice`.
    public var daysUntilDue: Int?
    public var description: String?
    public var footer: String?
    public var pendingInvoiceItems: PendingItems
    public var metadata: [String: String]?

    public init(customer: String, currency: Currency? = nil, autoAdvance: Bool = false, collectionMethod: CollectionMethod? = nil,
                daysUntilDue: Int? = nil, description: String? = nil, footer: String? = nil,
                pendingInvoiceItems: PendingItems = .exclude, metadata: [String: String]? = nil) {
        self.customer = customer
        self.currency = currency
        self.autoAdvance = autoAdvance
        self.collectionMethod = collectionMethod
        self.daysUntilDue = daysUntilDue
        self.description = description
        self.footer = footer
        self.pendingInvoiceItems = pendingInvoiceItems
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("customer", customer)
        form.add("currency", currency?.code.lowercased())
        form.add("auto_advance", autoAdvance)
        form.add("collection_method", collectionMethod?.rawValue)
        form.add("days_until_due", daysUntilDue)
        form.add("description", description)
        form.add("footer", footer)
        form.add("pending_invoice_items_behavior", pendingInvoiceItems.rawValue)
        form.add("metadata", map: metadata)
    }
}

/// GET /v1/invoices: all, or one customer's, optionally of one status or created since a time.
public struct InvoiceListQuery: Hashable, Sendable, PagedQuery {
    public var customer: String?
    public var status: StripeInvoiceStatus?
    /// Only invoices created at or after this Unix time (`created[gte]`).
    public var createdSince: Int64?
    public var page: Page

    public init(customer: String? = nil, status: StripeInvoiceStatus? = nil, createdSince: Int64? = nil, page: Page = Page()) {
        self.customer = customer
        self.status = status
        self.createdSince = createdSince
        self.page = page
    }

    public func encode(into form: inout Form) {
        form.add("customer", customer)
        form.add("status", status?.rawValue)
        if let createdSince { form.add("created") { $0.add("gte", createdSince) } }
        page.encode(into: &form)
    }
}

/// POST /v1/invoices/{invoice}/pay: charge now, or record a payment made outside Stripe.
public struct InvoicePay: Hashable, Sendable, FormEncodable {
    public var paymentMethod: String?
    public var paidOutOfBand: Bool?
    public var offSession: Bool?
    public var forgive: Bool?

    public init(paymentMethod: String? = nil, paidOutOfBand: Bool? = nil, offSession: Bool? = nil, forgive: Bool? = nil) {
        self.paymentMethod = paymentMethod
        self.paidOutOfBand = paidOutOfBand
        self.offSession = offSession
        self.forgive = forgive
    }

    public func encode(into form: inout Form) {
        form.add("payment_method", paymentMethod)
        form.add("paid_out_of_band", paidOutOfBand)
        form.add("off_session", offSession)
        form.add("forgive", forgive)
    }
}

/// A tax rate described inline on a tax amount (`tax_amounts[i][tax_rate_data]`): how Tollbooth
/// puts its own tax on Stripe's lines without keeping Tax Rate objects.
public struct TaxRateData: Hashable, Sendable, FormEncodable {
    public var displayName: String
    public var inclusive: Bool
    /// In percent: 19 for 19%.
    public var percentage: Decimal
    public var country: String?
    public var state: String?
    public var jurisdiction: String?
    /// `vat`, `sales_tax`, `gst`…
    public var taxType: String?
    public var description: String?

    public init(displayName: String, inclusive: Bool, percentage: Decimal, country: String? = nil, state: String? = nil,
                jurisdiction: String? = nil, taxType: String? = nil, description: String? = nil) {
        self.displayName = displayName
        self.inclusive = inclusive
        self.percentage = percentage
        self.country = country
        self.state = state
        self.jurisdiction = jurisdiction
        self.taxType = taxType
        self.description = description
    }

    public func encode(into form: inout Form) {
        form.add("display_name", displayName)
        form.add("inclusive", inclusive)
        form.add("percentage", percentage)
        form.add("country", country)
        form.add("state", state)
        form.add("jurisdiction", jurisdiction)
        form.add("tax_type", taxType)
        form.add("description", description)
    }
}

/// A tax on a line, computed by Tollbooth (or Stripe Tax) and written onto the line.
public struct TaxAmount: Hashable, Sendable, FormEncodable {
    public var amount: Int64
    public var taxableAmount: Int64
    public var rate: TaxRateData
    /// `standard_rated`, `customer_exempt`, `reverse_charge`…
    public var taxabilityReason: String?

    public init(amount: Int64, taxableAmount: Int64, rate: TaxRateData, taxabilityReason: String? = nil) {
        self.amount = amount
        self.taxableAmount = taxableAmount
        self.rate = rate
        self.taxabilityReason = taxabilityReason
    }

    public func encode(into form: inout Form) {
        form.add("amount", amount)
        form.add("taxable_amount", taxableAmount)
        form.add("tax_rate_data", rate)
        form.add("taxability_reason", taxabilityReason)
    }
}

/// POST /v1/invoices/{invoice}/lines/{line_item_id}: changes to one line of a draft.
/// `tax_amounts` lives only on invoice lines, so this (or `update_lines`) is how tax gets there.
public struct InvoiceLineUpdate: Hashable, Sendable, FormEncodable {
    public var amount: Int64?
    public var description: String?
    public var period: StripePeriod?
    public var metadata: [String: String]?
    /// The line's taxes, replacing any it had; an empty list removes them all.
    public var taxAmounts: [TaxAmount]?

    public init(amount: Int64? = nil, description: String? = nil, period: StripePeriod? = nil, metadata: [String: String]? = nil,
                taxAmounts: [TaxAmount]? = nil) {
        self.amount = amount
        self.description = description
        self.period = period
        self.metadata = metadata
        self.taxAmounts = taxAmounts
    }

    public func encode(into form: inout Form) {
        form.add("amount", amount)
        form.add("description", description)
        form.add("period", period)
        form.add("metadata", map: metadata)
        if taxAmounts?.isEmpty == true {
            form.add("tax_amounts", "")
        } else {
            form.add("tax_amounts", each: taxAmounts) { $1.encode(into: &$0) }
        }
    }
}

/// POST /v1/invoices/{invoice}/update_lines: several lines of a draft in one call.
public struct InvoiceLinesUpdate: Hashable, Sendable, FormEncodable {
    public struct Line: Hashable, Sendable, FormEncodable {
        /// The line's id (`il_…`).
        public var id: String
        public var changes: InvoiceLineUpdate

        public init(id: String, changes: InvoiceLineUpdate) {
            self.id = id
            self.changes = changes
        }

        public func encode(into form: inout Form) {
            form.add("id", id)
            changes.encode(into: &form)
        }
    }

    public var lines: [Line]
    public var invoiceMetadata: [String: String]?

    public init(lines: [Line], invoiceMetadata: [String: String]? = nil) {
        self.lines = lines
        self.invoiceMetadata = invoiceMetadata
    }

    public func encode(into form: inout Form) {
        form.add("lines", each: lines) { $1.encode(into: &$0) }
        form.add("invoice_metadata", map: invoiceMetadata)
    }
}

/// POST /v1/invoices/{invoice}/add_lines: new lines on a draft in one call, each becoming an
/// invoice item and its line, tax amounts included.
public struct InvoiceLinesAdd: Hashable, Sendable, FormEncodable {
    public struct Line: Hashable, Sendable, FormEncodable {
        /// Minor units; negative for a credit.
        public var amount: Int64
        public var description: String?
        public var period: StripePeriod?
        public var metadata: [String: String]?
        public var taxAmounts: [TaxAmount]?

        public init(amount: Int64, description: String? = nil, period: StripePeriod? = nil, metadata: [String: String]? = nil,
                    taxAmounts: [TaxAmount]? = nil) {
            self.amount = amount
            self.description = description
            self.period = period
            self.metadata = metadata
            self.taxAmounts = taxAmounts
        }

        public func encode(into form: inout Form) {
            form.add("amount", amount)
            form.add("description", description)
            form.add("period", period)
            form.add("metadata", map: metadata)
            form.add("tax_amounts", each: taxAmounts) { $1.encode(into: &$0) }
        }
    }

    public var lines: [Line]
    public var invoiceMetadata: [String: String]?

    public init(lines: [Line], invoiceMetadata: [String: String]? = nil) {
        self.lines = lines
        self.invoiceMetadata = invoiceMetadata
    }

    public func encode(into form: inout Form) {
        form.add("lines", each: lines) { $1.encode(into: &$0) }
        form.add("invoice_metadata", map: invoiceMetadata)
    }
}

/// POST /v1/invoices/{invoice}/finalize.
struct InvoiceFinalize: FormEncodable {
    var autoAdvance: Bool?

    func encode(into form: inout Form) { form.add("auto_advance", autoAdvance) }
}

extension StripeClient {
    public func createInvoice(_ params: InvoiceCreate, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try post("/v1/invoices", params, idempotencyKey: idempotencyKey)
    }

    public func retrieveInvoice(_ id: String) throws(StripeError) -> StripeInvoice {
        try call(.get, StripeClient.path("/v1/invoices", id))
    }

    public func listInvoices(_ query: InvoiceListQuery = InvoiceListQuery()) throws(StripeError) -> StripeList<StripeInvoice> {
        try get("/v1/invoices", query)
    }

    /// Every invoice the query finds, walking the pages (`starting_after` the last of each).
    public func allInvoices(_ query: InvoiceListQuery = InvoiceListQuery()) throws(StripeError) -> [StripeInvoice] {
        try all(query) { (query) throws(StripeError) in try listInvoices(query) }
    }

    /// Finalizes a draft; `autoAdvance` true lets Stripe then collect it automatically.
    public func finalizeInvoice(_ id: String, autoAdvance: Bool? = nil, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try post(StripeClient.path("/v1/invoices", id, "finalize"), InvoiceFinalize(autoAdvance: autoAdvance), idempotencyKey: idempotencyKey)
    }

    public func payInvoice(_ id: String, _ params: InvoicePay = InvoicePay(), idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try post(StripeClient.path("/v1/invoices", id, "pay"), params, idempotencyKey: idempotencyKey)
    }

    public func voidInvoice(_ id: String, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try call(.post, StripeClient.path("/v1/invoices", id, "void"), idempotencyKey: idempotencyKey)
    }

    public func markInvoiceUncollectible(_ id: String, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try call(.post, StripeClient.path("/v1/invoices", id, "mark_uncollectible"), idempotencyKey: idempotencyKey)
    }

    public func listInvoiceLines(invoice: String, _ page: Page = Page()) throws(StripeError) -> StripeList<StripeInvoiceLine> {
        try get(StripeClient.path("/v1/invoices", invoice, "lines"), page)
    }

    /// Every line of an invoice, all pages (an invoice may hold 250).
    public func allInvoiceLines(invoice: String) throws(StripeError) -> [StripeInvoiceLine] {
        try all(Page(limit: 100)) { (page) throws(StripeError) in try listInvoiceLines(invoice: invoice, page) }
    }

    public func updateInvoiceLine(invoice: String, line: String, _ params: InvoiceLineUpdate,
                                  idempotencyKey: String) throws(StripeError) -> StripeInvoiceLine {
        try post(StripeClient.path("/v1/invoices", invoice, "lines", line), params, idempotencyKey: idempotencyKey)
    }

    /// Adds lines to a draft; the answer is the invoice with its new totals.
    public func addInvoiceLines(invoice: String, _ params: InvoiceLinesAdd, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try post(StripeClient.path("/v1/invoices", invoice, "add_lines"), params, idempotencyKey: idempotencyKey)
    }

    public func updateInvoiceLines(invoice: String, _ params: InvoiceLinesUpdate, idempotencyKey: String) throws(StripeError) -> StripeInvoice {
        try post(StripeClient.path("/v1/invoices", invoice, "update_lines"), params, idempotencyKey: idempotencyKey)
    }
}
