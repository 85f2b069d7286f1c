/// Test or live mode, from a key's prefix.
enum KeyMode: String, Sendable {
    case test
    case live
}

/// An API key as the simulator reads it. The raw text is kept for lookups only: messages show
/// `masked`.
struct APIKey: Sendable, Hashable {
    enum Kind: Sendable { case secret, restricted }

    var raw: String
    var kind: Kind
    var mode: KeyMode

    /// `sk_test_`, `sk_live_`, `rk_test_` or `rk_live_` followed by at least one character.
    init?(_ raw: String) {
        let prefixes: [(String, Kind, KeyMode)] = [("sk_test_", .secret, .test), ("sk_live_", .secret, .live),
                                                   ("rk_test_", .restricted, .test), ("rk_live_", .restricted, .live)]
        guard let match = prefixes.first(where: { raw.hasPrefix($0.0) && raw.count > $0.0.count }),
              raw.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { return nil }
        self.raw = raw
        kind = match.1
        mode = match.2
    }

    /// The key as Stripe's messages show it: its prefix, a star per hidden character, its last 4.
    var masked: String { APIKey.mask(raw) }

    static func mask(_ raw: String) -> String {
        let prefixLength = raw.hasPrefix("whsec_") ? 6 : min(8, raw.count)
        guard raw.count > prefixLength + 4 else { return String(raw.prefix(prefixLength)) + "****" }
        return String(raw.prefix(prefixLength)) + String(repeating: "*", count: raw.count - prefixLength - 4)
            + String(raw.suffix(4))
    }
}

/// A permission of a restricted key, by the `rak_` name Stripe's 403 message uses.
struct Permission: Sendable, Hashable {
    enum Resource: String, Sendable, CaseIterable {
        case account
        case customer
        case paymentMethod = "payment_method"
        case checkoutSession = "checkout_session"
        case billingPortalSession = "billing_portal_session"
        case invoice
        case taxCalculation = "tax_calculation"
        case webhookEndpoint = "webhook_endpoint"
        case event
    }

    var resource: Resource
    var write: Bool

    var rakName: String { "rak_\(resource.rawValue)_\(write ? "write" : "read")" }

    /// The name Stripe's 403 message gives: Connect Accounts' read is
    /// `rak_accounts_kyc_basic_read`; invoices, tax calculations and webhook endpoints are named
    /// in the plural (`rak_invoices_write`), the rest in the singular (`rak_customer_write`).
    var stripeName: String {
        let access = write ? "write" : "read"
        switch resource {
        case .account: return write ? "rak_accounts_write" : "rak_accounts_kyc_basic_read"
        case .invoice: return "rak_invoices_\(access)"
        case .taxCalculation: return "rak_tax_calculations_\(access)"
        case .webhookEndpoint: return "rak_webhook_endpoints_\(access)"
        case .customer, .paymentMethod, .checkoutSession, .billingPortalSession, .event: return rakName
        }
    }

    init(_ resource: Resource, write: Bool) {
        self.resource = resource
        self.write = write
    }

    /// `rak_<resource>_read` or `_write`, the resource singular or plural, or either name
    /// Stripe's messages use (`rak_accounts_kyc_basic_read`).
    init?(rakName: String) {
        for resource in Resource.allCases {
            for write in [false, true] {
                let permission = Permission(resource, write: write)
                let access = write ? "write" : "read"
                if [permission.rakName, permission.stripeName, "rak_\(resource.rawValue)s_\(access)"].contains(rakName) {
                    self = permission
                    return
                }
            }
        }
        return nil
    }

    /// Whether a key holding `granted` may make a call needing `self`: a write permission
    /// implies the read one.
    func isGranted(by granted: Set<Permission>) -> Bool {
        granted.contains(self) || (!write && granted.contains(Permission(resource, write: true)))
    }
}

/// What a key may do, once recognised.
struct Credential: Sendable {
    var key: APIKey
    var account: String
    /// nil for a secret key: every call.
    var permissions: Set<Permission>?
}
