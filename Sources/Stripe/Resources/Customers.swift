import Foundation

/// A Stripe Customer: one per Tollbooth customer, found again by `metadata[tollbooth_customer]`.
public struct StripeCustomer: StripeObject, Hashable {
    public struct InvoiceSettings: Hashable, Sendable, Decodable {
        /// The payment method invoices charge.
        public var defaultPaymentMethod: String?
    }

    public var id: String
    public var created: Int64
    public var livemode: Bool
    public var email: String?
    public var name: String?
    public var description: String?
    /// Lower-case ISO 4217, once the customer has been billed in one.
    public var currency: String?
    /// Credit (negative) or debt (positive) carried to the next invoice, in minor units.
    public var balance: Int64?
    public var delinquent: Bool?
    public var address: Address?
    public var taxExempt: TaxExempt?
    public var invoiceSettings: InvoiceSettings?
    public var metadata: [String: String]
}

/// Stripe's `tax_exempt`, as Tollbooth's customers have it.
public enum TaxExempt: String, Hashable, Sendable, Decodable {
    case none, exempt, reverse
}

/// What retrieving a customer found: the customer, or the stub Stripe keeps of a deleted one.
public enum RetrievedCustomer: Hashable, Sendable, Decodable {
    case customer(StripeCustomer)
    case deleted(id: String)

    private struct Stub: Decodable {
        var id: String
        var deleted: Bool?
    }

    public init(from decoder: any Decoder) throws {
        let stub = try Stub(from: decoder)
        self = stub.deleted == true ? .deleted(id: stub.id) : .customer(try StripeCustomer(from: decoder))
    }
}

/// A tax id of a customer (`eu_vat`, `DE123456789`).
public struct TaxID: Hashable, Sendable, Decodable, FormEncodable {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    public func encode(into form: inout Form) {
        form.add("type", type)
        form.add("value", value)
    }
}

/// POST /v1/customers.
public struct CustomerCreate: Hashable, Sendable, FormEncodable {
    public var name: String?
    public var email: String?
    public var description: String?
    public var address: Address?
    public var taxExempt: TaxExempt?
    public var taxIds: [TaxID]?
    public var metadata: [String: String]?

    public init(name: String? = nil, email: String? = nil, description: String? = nil, address: Address? = nil,
                taxExempt: TaxExempt? = nil, taxIds: [TaxID]? = nil, metadata: [String: String]? = nil) {
        self.name = name
        self.email = email
        self.description = description
        self.address = address
        self.taxExempt = taxExempt
        self.taxIds = taxIds
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("name", name)
        form.add("email", email)
        form.add("description", description)
        form.add("address", address)
        form.add("tax_exempt", taxExempt?.rawValue)
        form.add("tax_id_data", each: taxIds) { $1.encode(into: &$0) }
        form.add("metadata", map: metadata)
    }
}

/// POST /v1/customers/{customer}: only the fields set are changed.
public struct CustomerUpdate: Hashable, Sendable, FormEncodable {
    public var name: String?
    public var email: String?
    public var description: String?
    public var address: Address?
    public var taxExempt: TaxExempt?
    /// The payment method invoices charge (`invoice_settings[default_payment_method]`).
    public var defaultPaymentMethod: String?
    /// Entries to set; an empty value removes the key.
    public var metadata: [String: String]?

    public init(name: String? = nil, email: String? = nil, description: String? = nil, address: Address? = nil,
                taxExempt: TaxExempt? = nil, defaultPaymentMethod: String? = nil, metadata: [String: String]? = nil) {
        self.name = name
        self.email = email
        self.description = description
        self.address = address
        self.taxExempt = taxExempt
        self.defaultPaymentMethod = defaultPaymentMethod
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("name", name)
        form.add("email", email)
        form.add("description", description)
        form.add("address", address)
        form.add("tax_exempt", taxExempt?.rawValue)
        if let defaultPaymentMethod {
            form.add("invoice_settings") { $0.add("default_payment_method", defaultPaymentMethod) }
        }
        form.add("metadata", map: metadata)
    }
}

/// GET /v1/customers: by exact `email` (case-sensitive at Stripe), one page.
public struct CustomerListQuery: Hashable, Sendable, PagedQuery {
    public var email: String?
    public var page: Page

    public init(email: String? = nil, page: Page = Page()) {
        self.email = email
        self.page = page
    }

    public func encode(into form: inout Form) {
        form.add("email", email)
        page.encode(into: &form)
    }
}

extension StripeClient {
    public func createCustomer(_ params: CustomerCreate, idempotencyKey: String) throws(StripeError) -> StripeCustomer {
        try post("/v1/customers", params, idempotencyKey: idempotencyKey)
    }

    public func updateCustomer(_ id: String, _ params: CustomerUpdate, idempotencyKey: String) throws(StripeError) -> StripeCustomer {
        try post(StripeClient.path("/v1/customers", id), params, idempotencyKey: idempotencyKey)
    }

    public func retrieveCustomer(_ id: String) throws(StripeError) -> RetrievedCustomer {
        try call(.get, StripeClient.path("/v1/customers", id))
    }

    public func listCustomers(_ query: CustomerListQuery = CustomerListQuery()) throws(StripeError) -> StripeList<StripeCustomer> {
        try get("/v1/customers", query)
    }

    /// Every customer the query finds, all pages.
    public func allCustomers(_ query: CustomerListQuery = CustomerListQuery()) throws(StripeError) -> [StripeCustomer] {
        try all(query) { (query) throws(StripeError) in try listCustomers(query) }
    }
}
