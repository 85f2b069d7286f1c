import Billing
import Foundation

/// An invoice item: one Tollbooth invoice line, put on a draft invoice with `invoice=`.
public struct InvoiceItem: StripeObject, Hashable {
    public var id: String
    public var customer: String
    public var invoice: String?
    /// Minor units; negative for a credit.
    public var amount: Int64
    public var currency: String
    public var description: String?
    public var period: StripePeriod
    public var quantity: Int
    public var proration: Bool
    public var discountable: Bool
    public var date: Int64
    public var livemode: Bool
    public var metadata: [String: String]?
}

/// POST /v1/invoiceitems: an amount on a given invoice.
public struct InvoiceItemCreate: Hashable, Sendable, FormEncodable {
    public enum TaxBehavior: String, Hashable, Sendable { case exclusive, inclusive, unspecified }

    public var customer: String
    /// The draft invoice it goes on; without one it waits for the customer's next invoice.
    public var invoice: String?
    /// Minor units of `currency`; negative for a credit.
    public var amount: Int64
    public var currency: Currency
    public var description: String?
    public var period: StripePeriod?
    public var taxBehavior: TaxBehavior?
    public var taxCode: String?
    public var metadata: [String: String]?

    public init(customer: String, invoice: String?, amount: Int64, currency: Currency, description: String? = nil,
                period: StripePeriod? = nil, taxBehavior: TaxBehavior? = nil, taxCode: String? = nil,
                metadata: [String: String]? = nil) {
        self.customer = customer
        self.invoice = invoice
        self.amount = amount
        self.currency = currency
        self.description = description
        self.period = period
        self.taxBehavior = taxBehavior
        self.taxCode = taxCode
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("customer", customer)
        form.add("invoice", invoice)
        form.add("amount", amount)
        form.add("currency", currency.code.lowercased())
        form.add("description", description)
        form.add("period", period)
        form.add("tax_behavior", taxBehavior?.rawValue)
        form.add("tax_code", taxCode)
        form.add("metadata", map: metadata)
    }
}

/// GET /v1/invoiceitems: an invoice's items, or a customer's.
public struct InvoiceItemListQuery: Hashable, Sendable, PagedQuery {
    public var invoice: String?
    public var customer: String?
    public var page: Page

    public init(invoice: String? = nil, customer: String? = nil, page: Page = Page()) {
        self.invoice = invoice
        self.customer = customer
        self.page = page
    }

    public func encode(into form: inout Form) {
        form.add("invoice", invoice)
        form.add("customer", customer)
        page.encode(into: &form)
    }
}

extension StripeClient {
    public func createInvoiceItem(_ params: InvoiceItemCreate, idempotencyKey: String) throws(StripeError) -> InvoiceItem {
        try post("/v1/invoiceitems", params, idempotencyKey: idempotencyKey)
    }

    public func listInvoiceItems(_ query: InvoiceItemListQuery) throws(StripeError) -> StripeList<InvoiceItem> {
        try get("/v1/invoiceitems", query)
    }

    /// Every item the query finds, all pages: how the issue stage adopts the items of an
    /// invoice created before its idempotency keys expired.
    public func allInvoiceItems(_ query: InvoiceItemListQuery) throws(StripeError) -> [InvoiceItem] {
        try all(query) { (query) throws(StripeError) in try listInvoiceItems(query) }
    }
}
