import Billing
import Foundation
import Store
import Stripe

/// One Stripe Customer per customer and account, made on first need (the first invoice, or a
/// payment link) and found again by `metadata[tollbooth_customer]` when an earlier attempt may
/// have made it without the store knowing.
struct StripeCustomers {
    let store: Store
    let stripe: StripeClient
    let account: String
    let failpoints: Failpoints
    let now: Instant

    /// The customer's Stripe id; a Stripe Customer made from details that have changed since
    /// (name, email, address, tax exemption, tax ids) is updated first, so invoices and tax use
    /// what the customer file says now.
    func ensure(_ customer: Billing.Customer, keys: IdempotencyKeys = IdempotencyKeys(generation: 0)) throws -> String {
        let details = StripeMapping.customer(customer)
        let digest = StripeCustomers.digest(details)
        switch try store.stripeCustomer(customerKey: customer.key, account: account) {
        case .created(let id, let synced):
            if synced != digest {
                _ = try stripe.updateCustomer(id, StripeMapping.update(details), idempotencyKey: "tollbooth-customer-update-\(customer.key)-\(digest)")
                try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: id, digest: digest, at: now)
            }
            return id
        case .requested:
            if let found = try find(customer) {
                // Made by an earlier attempt from details that may have changed since: update it once.
                try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: found, digest: nil, at: now)
                return try ensure(customer, keys: keys)
            }
        case nil:
            try store.requestStripeCustomer(customerKey: customer.key, account: account, at: now)
        }
        let created = try stripe.createCustomer(details, idempotencyKey: keys.key("customer", customer.key))
        failpoints.hit("issue.customer")
        try store.recordStripeCustomer(customerKey: customer.key, account: account, stripeId: created.id, digest: digest, at: now)
        return created.id
    }

    /// A short digest of the details sent to Stripe, over their form encoding (the same bytes
    /// for the same details).
    static func digest(_ details: CustomerCreate) -> String {
        var form = Form()
        details.encode(into: &form)
        return StripeSetup.digest(form.encoded)
    }

    /// Listed by email (every customer when it has none), matched on `metadata[tollbooth_customer]`.
    func find(_ customer: Billing.Customer) throws -> String? {
        try stripe.allCustomers(CustomerListQuery(email: customer.email, page: Page(limit: 100)))
            .first { $0.metadata[StripeMapping.customerKey] == customer.key }?.id
    }
}

/// A customer's payment set-up in Stripe: a Checkout link (setup mode) where the customer saves
/// a payment method, a Customer Portal link, and the newest saved payment method made the one
/// invoices charge (what `checkout.session.completed` triggers).
public struct CustomerPayments {
    let store: Store
    let connection: StripeConnection
    let now: Instant

    public init(store: Store, connection: StripeConnection, now: Instant) {
        self.store = store
        self.connection = connection
        self.now = now
    }

    func stripeCustomer(_ key: String) throws -> (Billing.Customer, String) {
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
            idempotencyKey: "tollbooth-checkout-\(customerKey)-\(now.seconds)")
        return (session.id, session.url ?? "")
    }

    public func portalLink(customerKey: String, returnUrl: String?) throws -> String {
        let (_, id) = try stripeCustomer(customerKey)
        return try connection.client.createPortalSession(PortalSessionCreate(customer: id, returnUrl: returnUrl),
                                                         idempotencyKey: "tollbooth-portal-\(customerKey)-\(now.seconds)").url
    }

    /// Makes the customer's newest payment method the one its invoices charge; returns it, or
    /// nil when the customer has none.
    @discardableResult
    public func useNewestPaymentMethod(customerKey: String) throws -> PaymentMethod? {
        let (_, id) = try stripeCustomer(customerKey)
        guard let newest = try connection.client.listPaymentMethods(customer: id).data.max(by: { $0.created < $1.created }) else { return nil }
        _ = try connection.client.updateCustomer(id, CustomerUpdate(defaultPaymentMethod: newest.id),
                                                 idempotencyKey: "tollbooth-default-payment-method-\(customerKey)-\(newest.id)")
        return newest
    }
}
