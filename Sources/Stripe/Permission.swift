/// The eight permissions a restricted key needs for Tollbooth (DESIGN.md "Keys"), in the order
/// of the table there. Stripe names a missing one in its 403 message as `rak_<resource>_<access>`.
public enum Permission: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case connectAccountsRead = 1
    case customersWrite
    case paymentMethodsRead
    case checkoutSessionsWrite
    case customerPortalWrite
    case invoicesWrite
    case taxCalculationsAndTransactionsWrite
    case webhookEndpointsWrite

    public enum Access: String, Sendable { case read, write }

    /// The row of the table, 1 to 8.
    public var row: Int { rawValue }

    /// What the Stripe Dashboard calls the resource on a restricted key's page.
    public var resource: String {
        switch self {
        case .connectAccountsRead: return "Connect Accounts"
        case .customersWrite: return "Customers"
        case .paymentMethodsRead: return "Payment Methods"
        case .checkoutSessionsWrite: return "Checkout Sessions"
        case .customerPortalWrite: return "Customer portal"
        case .invoicesWrite: return "Invoices"
        case .taxCalculationsAndTransactionsWrite: return "Tax Calculations and Transactions"
        case .webhookEndpointsWrite: return "Webhook Endpoints"
        }
    }

    public var access: Access {
        switch self {
        case .connectAccountsRead, .paymentMethodsRead: return .read
        case .customersWrite, .checkoutSessionsWrite, .customerPortalWrite, .invoicesWrite,
             .taxCalculationsAndTransactionsWrite, .webhookEndpointsWrite:
            return .write
        }
    }

    /// "Invoices write", as the table names it.
    public var displayName: String { "\(resource) \(access.rawValue)" }

    /// How the Dashboard shows the setting to choose: "Invoices: write".
    public var dashboardSetting: String { "\(resource): \(access.rawValue)" }

    /// The name Stripe's 403 message uses.
    public var rakName: String {
        switch self {
        case .connectAccountsRead: return "rak_account_read"
        case .customersWrite: return "rak_customer_write"
        case .paymentMethodsRead: return "rak_payment_method_read"
        case .checkoutSessionsWrite: return "rak_checkout_session_write"
        case .customerPortalWrite: return "rak_billing_portal_session_write"
        case .invoicesWrite: return "rak_invoice_write"
        case .taxCalculationsAndTransactionsWrite: return "rak_tax_calculation_write"
        case .webhookEndpointsWrite: return "rak_webhook_endpoint_write"
        }
    }

    /// What to do about it, for an error message.
    public var advice: String {
        "edit the restricted key in the Stripe Dashboard and give it '\(dashboardSetting)'"
    }

    public var description: String { displayName }

    /// The resource families of each row, as the stems Stripe's `rak_` names start with, singular
    /// and plural (`rak_invoice_write`, `rak_invoices_*`, `rak_invoiceitems_read`); whatever
    /// follows the stem is the action and does not matter. Connect Accounts takes any name that
    /// starts `rak_account` (`rak_accounts_kyc_basic_read`).
    var stems: [String] {
        switch self {
        case .connectAccountsRead: return []
        case .customersWrite: return ["customer", "customers"]
        case .paymentMethodsRead: return ["payment_method", "payment_methods"]
        case .checkoutSessionsWrite: return ["checkout_session", "checkout_sessions"]
        case .customerPortalWrite: return ["billing_portal", "customer_portal"]
        case .invoicesWrite: return ["invoice", "invoices", "invoiceitem", "invoiceitems", "invoice_item", "invoice_items"]
        case .taxCalculationsAndTransactionsWrite:
            return ["tax_calculation", "tax_calculations", "tax_transaction", "tax_transactions"]
        case .webhookEndpointsWrite: return ["webhook_endpoint", "webhook_endpoints"]
        }
    }

    /// The row a `rak_` name belongs to, by its resource family, singular or plural, whatever its
    /// action (`_read`, `_write`, `_*`, `_kyc_basic_read`): granting the row is the fix, since a
    /// write permission implies its read. Nil for a name outside the eight families
    /// (`rak_event_read`), which is then quoted as it is.
    public init?(rakName: String) {
        guard rakName.hasPrefix("rak_") else { return nil }
        let rest = rakName.dropFirst(4)
        if rest.hasPrefix("account") {
            self = .connectAccountsRead
            return
        }
        // The portal's stems come before the customers' ones: `customer_portal` is the portal.
        let order: [Permission] = [.customerPortalWrite, .customersWrite, .paymentMethodsRead, .checkoutSessionsWrite,
                                   .invoicesWrite, .taxCalculationsAndTransactionsWrite, .webhookEndpointsWrite]
        guard let match = order.first(where: { permission in
            permission.stems.contains { rest == $0 || rest.hasPrefix($0 + "_") }
        }) else { return nil }
        self = match
    }

    /// A call that proves the permission without changing anything at Stripe: an answer other
    /// than 403 (a 200, or a 400/404 for an object that does not exist) shows the key may make
    /// it, since Stripe checks a key's permissions before it looks at parameters or objects.
    /// Writes use a POST that cannot succeed: an update of an object that does not exist, or a
    /// session or transaction for a customer or calculation that does not exist.
    public var probe: Probe {
        switch self {
        case .connectAccountsRead:
            return Probe(method: .get, path: "/v1/account")
        case .customersWrite:
            return Probe(method: .post, path: "/v1/customers/\(Probe.missingID("cus"))")
        case .paymentMethodsRead:
            return Probe(method: .get, path: "/v1/payment_methods/\(Probe.missingID("pm"))")
        case .checkoutSessionsWrite:
            var form = Form()
            form.add("mode", "setup")
            form.add("customer", Probe.missingID("cus"))
            form.add("currency", "usd")
            form.add("success_url", "https://example.com/tollbooth-readiness")
            return Probe(method: .post, path: "/v1/checkout/sessions", form: form)
        case .customerPortalWrite:
            var form = Form()
            form.add("customer", Probe.missingID("cus"))
            return Probe(method: .post, path: "/v1/billing_portal/sessions", form: form)
        case .invoicesWrite:
            return Probe(method: .post, path: "/v1/invoices/\(Probe.missingID("in"))")
        case .taxCalculationsAndTransactionsWrite:
            var form = Form()
            form.add("calculation", Probe.missingID("taxcalc"))
            form.add("reference", "tollbooth_readiness")
            return Probe(method: .post, path: "/v1/tax/transactions/create_from_calculation", form: form)
        case .webhookEndpointsWrite:
            return Probe(method: .post, path: "/v1/webhook_endpoints/\(Probe.missingID("we"))")
        }
    }
}

/// A harmless call that tests one permission (see `Permission.probe`).
public struct Probe: Hashable, Sendable {
    public let method: HTTPMethod
    public let path: String
    public let form: Form

    public init(method: HTTPMethod, path: String, form: Form = Form()) {
        self.method = method
        self.path = path
        self.form = form
    }

    /// An id of the right shape that no Stripe object has.
    static func missingID(_ prefix: String) -> String { "\(prefix)_tollbooth_readiness_probe" }
}

/// What a probe found.
public enum ProbeOutcome: Sendable {
    /// Stripe let the call past its permission check.
    case granted
    /// Stripe answered 403 for the permission; the error names it and the fix.
    case missing(StripeError)
}
