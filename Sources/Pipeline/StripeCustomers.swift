import Crypto
import Billing
import Foundation
import Store
import Stripe

/// One Stripe Customer per customer and account, made on first need (the first invoice, or a
/// payment link) and found again by `metadata[tollbooth_customer]` when an earlier attempt may
/// have made it without the store knowing.
struct StripeCustomers {
    let store: any Store
    let stripe: StripeClient
    let account: String
    let failpoints: Failpoints
    let now: Instant

    /// The customer's Stripe id; a Stripe Customer made from details that have changed since
    /// (name, email, address, tax exemption, tax ids) is updated first, so invoices and tax use
    /// what the customer file says now.
    func ensure(_ customer: Customer, keys: IdempotencyKeys = IdempotencyKeys(generation: 0)) throws -> String {
        try ensureReportingCreation(customer, keys: keys).id
    }

    /// As `ensure`, telling too whether this call created the Stripe Customer (so it has no
    /// saved payment method yet).
    func ensureReportingCreation(_ customer: Customer, keys: IdempotencyKeys) throws -> (id: String, created: Bool) {
        let details = StripeMapping.customer(customer)
        let digest = StripeCustomers.digest(details)
        switch try store.stripeCustomer(customerKey: customer.key, account: account) {
        case .created(let id, let synced):
            if synced != digest {
                _ = try stripe.updateCustomer(id, StripeMapping.update(details), idempotencyKey: "tollbooth-customer-update-\(customer.key)-\(digest)")
                try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: id, digest: digest, at: now)
            }
            return (id, false)
        case .requested:
            if let found = try find(customer) {
                // Made by an earlier attempt from details that may have changed since: update it once.
                try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: found, digest: nil, at: now)
                return (try ensure(customer, keys: keys), false)
            }
        case nil:
            try store.requestStripeCustomer(customerKey: customer.key, account: account, at: now)
        }
        let created = try stripe.createCustomer(details, idempotencyKey: keys.key("customer", customer.key))
        failpoints.hit("issue.customer")
        try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: created.id, digest: digest, at: now)
        return (created.id, true)
    }

    /// Before an invoice is finalized: a Customer with no default payment method but a saved one
    /// (a card saved through Checkout whose webhook was missed) gets its newest as the default,
    /// so the invoice charges it. Looked at once per customer, and again after each payment or
    /// portal link, where a card may have been saved since.
    func ensureDefaultPaymentMethod(_ customerKey: String, stripeId: String) throws {
        guard try store.paymentMethodsToCheck(customerKey: customerKey, account: account) else { return }
        let methods = try stripe.listPaymentMethods(customer: stripeId).data
        let chosen: String?
        if methods.isEmpty {
            chosen = nil
        } else if case .customer(let found) = try stripe.retrieveCustomer(stripeId), let current = found.invoiceSettings?.defaultPaymentMethod {
            chosen = current
        } else {
            chosen = try CustomerPayments.makeNewestDefault(methods, customerKey: customerKey, stripeId: stripeId, stripe: stripe)?.id
            failpoints.hit("issue.payment_method")
        }
        try store.recordPaymentMethodsChecked(customerKey: customerKey, account: account, defaultPaymentMethod: chosen)
    }

    /// A Customer this attempt created has no saved payment method to look for.
    func recordCreatedWithoutPaymentMethods(_ customerKey: String) throws {
        try store.recordPaymentMethodsChecked(customerKey: customerKey, account: account, defaultPaymentMethod: nil)
    }

    /// A short digest of the details sent to Stripe, over their form encoding (the same bytes
    /// for the same details).
    static func digest(_ details: CustomerCreate) -> String {
        var form = Form()
        details.encode(into: &form)
        return StripeSetup.digest(form.encoded)
    }

    /// Listed by email (every customer when it has none), matched on `metadata[tollbooth_customer]`.
    func find(_ customer: Customer) throws -> String? {
        try stripe.allCustomers(CustomerListQuery(email: customer.email, page: Page(limit: 100)))
            .first { $0.metadata[StripeMapping.customerKey] == customer.key }?.id
    }
}

/// A customer's payment set-up in Stripe: a Checkout link (setup mode) where the customer saves
/// a payment method, a Customer Portal link, and the newest saved payment method made the one
/// invoices charge (what `checkout.session.completed` triggers).
public struct CustomerPayments {
    let store: any Store
    let connection: StripeConnection
    let now: Instant

    public init(store: any Store, connection: StripeConnection, now: Instant) {
        self.store = store
        self.connection = connection
        self.now = now
    }

    func stripeCustomer(_ key: String) throws -> (Customer, String) {
        guard let customer = try store.customer(key: key) else {
            throw StoreInputError("no customer \(key): import it with `tollbooth customers import`")
        }
        let id = try StripeCustomers(store: store, stripe: connection.client, account: connection.account, failpoints: Failpoints(environment: [:]),
                                     now: now).ensure(customer)
        return (customer, id)
    }

    /// A Checkout Session in setup mode for the customer; returns its id and URL.
    public func paymentLink(customerKey: String, successUrl: String) throws -> (id: String, url: String) {
        let (customer, id) = try stripeCustomer(customerKey)
        let currency = customer.currency ?? .usd
        let session = try connection.client.createCheckoutSetupSession(
            CheckoutSetupSessionCreate(customer: id, currency: currency, successUrl: successUrl, clientReferenceId: customerKey,
                                       metadata: [StripeMapping.customerKey: customerKey]),
            idempotencyKey: "tollbooth-checkout-\(customerKey)-\(now.seconds)-\(CustomerPayments.digest(successUrl))")
        try store.requestPaymentMethodsCheck(customerKey: customerKey, account: connection.account)
        return (session.id, session.url ?? "")
    }

    /// Twelve hex digits of SHA-256 of `text`: in an idempotency key, so that two requests in
    /// the same second that differ in a URL are two requests, and a retry of one is the same.
    static func digest(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    public func portalLink(customerKey: String, returnUrl: String?) throws -> String {
        let (_, id) = try stripeCustomer(customerKey)
        let url = try connection.client.createPortalSession(PortalSessionCreate(customer: id, returnUrl: returnUrl),
                                                            idempotencyKey: "tollbooth-portal-\(customerKey)-\(now.seconds)-\(CustomerPayments.digest(returnUrl.map { "url:" + $0 } ?? "none"))").url
        try store.requestPaymentMethodsCheck(customerKey: customerKey, account: connection.account)
        return url
    }

    /// Makes the customer's newest payment method the one its invoices charge, and records that
    /// its payment methods were looked at; returns it, or nil when the customer has none.
    /// `stripeId` is its Stripe Customer when the caller knows it (else found or made).
    @discardableResult
    public func useNewestPaymentMethod(customerKey: String, stripeId: String? = nil) throws -> PaymentMethod? {
        let id = try stripeId ?? stripeCustomer(customerKey).1
        let methods = try connection.client.listPaymentMethods(customer: id).data
        let newest = try CustomerPayments.makeNewestDefault(methods, customerKey: customerKey, stripeId: id, stripe: connection.client)
        try store.recordPaymentMethodsChecked(customerKey: customerKey, account: connection.account, defaultPaymentMethod: newest?.id)
        return newest
    }

    /// Makes the newest of `methods` the Customer's `invoice_settings[default_payment_method]`;
    /// returns it, nil when there is none.
    static func makeNewestDefault(_ methods: [PaymentMethod], customerKey: String, stripeId: String,
                                  stripe: StripeClient) throws -> PaymentMethod? {
        guard let newest = methods.max(by: { ($0.created, $0.id) < ($1.created, $1.id) }) else { return nil }
        _ = try stripe.updateCustomer(stripeId, CustomerUpdate(defaultPaymentMethod: newest.id),
                                      idempotencyKey: "tollbooth-default-payment-method-\(customerKey)-\(newest.id)")
        return newest
    }
}
