import Billing
import Foundation

/// A Checkout Session; Tollbooth makes them in `setup` mode to collect a payment method.
public struct CheckoutSession: StripeObject, Hashable {
    public var id: String
    public var mode: String
    /// `open`, `complete` or `expired`.
    public var status: String?
    /// The page to send the customer to; nil once the session is complete or expired.
    public var url: String?
    public var customer: String?
    public var setupIntent: String?
    public var successUrl: String?
    public var cancelUrl: String?
    public var currency: String?
    public var paymentStatus: String
    public var clientReferenceId: String?
    public var created: Int64
    public var expiresAt: Int64
    public var livemode: Bool
    public var metadata: [String: String]?
}

/// POST /v1/checkout/sessions with `mode=setup`: a page where `customer` saves a payment method.
public struct CheckoutSetupSessionCreate: Hashable, Sendable, FormEncodable {
    public var customer: String
    /// Stripe needs it in setup mode unless payment method types are given.
    public var currency: Currency
    public var successUrl: String
    public var cancelUrl: String?
    public var paymentMethodTypes: [String]?
    public var clientReferenceId: String?
    public var metadata: [String: String]?

    public init(customer: String, currency: Currency, successUrl: String, cancelUrl: String? = nil,
                paymentMethodTypes: [String]? = nil, clientReferenceId: String? = nil, metadata: [String: String]? = nil) {
        self.customer = customer
        self.currency = currency
        self.successUrl = successUrl
        self.cancelUrl = cancelUrl
        self.paymentMethodTypes = paymentMethodTypes
        self.clientReferenceId = clientReferenceId
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("mode", "setup")
        form.add("customer", customer)
        form.add("currency", currency.code.lowercased())
        form.add("success_url", successUrl)
        form.add("cancel_url", cancelUrl)
        form.add("payment_method_types", list: paymentMethodTypes)
        form.add("client_reference_id", clientReferenceId)
        form.add("metadata", map: metadata)
    }
}

/// A Customer Portal session: a link where a customer manages payment methods and invoices.
public struct PortalSession: StripeObject, Hashable {
    public var id: String
    public var url: String
    public var customer: String
    public var returnUrl: String?
    public var created: Int64
    public var livemode: Bool
}

/// POST /v1/billing_portal/sessions.
public struct PortalSessionCreate: Hashable, Sendable, FormEncodable {
    public var customer: String
    public var returnUrl: String?

    public init(customer: String, returnUrl: String? = nil) {
        self.customer = customer
        self.returnUrl = returnUrl
    }

    public func encode(into form: inout Form) {
        form.add("customer", customer)
        form.add("return_url", returnUrl)
    }
}

/// A saved payment method; Tollbooth reads a customer's to make the newest the default.
public struct PaymentMethod: StripeObject, Hashable {
    public struct Card: Hashable, Sendable, Decodable {
        public var brand: String?
        public var last4: String?
        public var expMonth: Int?
        public var expYear: Int?
        public var country: String?
        public var funding: String?
    }

    public struct BillingDetails: Hashable, Sendable, Decodable {
        public var name: String?
        public var email: String?
        public var address: Address?
    }

    public var id: String
    /// `card`, `sepa_debit`, `us_bank_account`…
    public var type: String
    public var customer: String?
    public var created: Int64
    public var livemode: Bool
    public var card: Card?
    public var billingDetails: BillingDetails
    public var metadata: [String: String]?
}

/// GET /v1/customers/{customer}/payment_methods.
public struct PaymentMethodListQuery: Hashable, Sendable, PagedQuery {
    public var type: String?
    public var page: Page

    public init(type: String? = nil, page: Page = Page()) {
        self.type = type
        self.page = page
    }

    public func encode(into form: inout Form) {
        form.add("type", type)
        page.encode(into: &form)
    }
}

extension StripeClient {
    public func createCheckoutSetupSession(_ params: CheckoutSetupSessionCreate, idempotencyKey: String) throws(StripeError) -> CheckoutSession {
        try post("/v1/checkout/sessions", params, idempotencyKey: idempotencyKey)
    }

    public func retrieveCheckoutSession(_ id: String) throws(StripeError) -> CheckoutSession {
        try call(.get, StripeClient.path("/v1/checkout/sessions", id))
    }

    public func createPortalSession(_ params: PortalSessionCreate, idempotencyKey: String) throws(StripeError) -> PortalSession {
        try post("/v1/billing_portal/sessions", params, idempotencyKey: idempotencyKey)
    }

    public func listPaymentMethods(customer: String, _ query: PaymentMethodListQuery = PaymentMethodListQuery()) throws(StripeError) -> StripeList<PaymentMethod> {
        try get(StripeClient.path("/v1/customers", customer, "payment_methods"), query)
    }

    /// A payment method; with `customer`, through the customer's list, which also checks that
    /// the payment method is that customer's.
    public func retrievePaymentMethod(_ id: String, customer: String? = nil) throws(StripeError) -> PaymentMethod {
        guard let customer else { return try call(.get, StripeClient.path("/v1/payment_methods", id)) }
        return try call(.get, StripeClient.path("/v1/customers", customer, "payment_methods", id))
    }
}
