// The stored objects and how each renders as Stripe's JSON. Field names, nesting and `object`
// values follow Stripe's own example objects (fixtures3.json); fields the simulator has no
// behaviour for are rendered with Stripe's empty values (null, [], {}, false).

struct Address: Sendable, Equatable {
    var city: String?
    var country: String?
    var line1: String?
    var line2: String?
    var postalCode: String?
    var state: String?

    init(city: String? = nil, country: String? = nil, line1: String? = nil, line2: String? = nil,
         postalCode: String? = nil, state: String? = nil) {
        self.city = city
        self.country = country
        self.line1 = line1
        self.line2 = line2
        self.postalCode = postalCode
        self.state = state
    }

    init(_ params: Params) {
        city = params.string("city")
        country = params.string("country")
        line1 = params.string("line1")
        line2 = params.string("line2")
        postalCode = params.string("postal_code")
        state = params.string("state")
    }

    var json: JSON {
        ["city": .nullable(city), "country": .nullable(country), "line1": .nullable(line1),
         "line2": .nullable(line2), "postal_code": .nullable(postalCode), "state": .nullable(state)]
    }
}

struct Account: Sendable {
    var id: String
    var email: String
    var country = "US"
    var defaultCurrency = "usd"
    var displayName: String
    var created: Int64

    func json(livemode: Bool) -> JSON {
        let due: JSON = ["alternatives": [], "current_deadline": nil, "currently_due": [], "disabled_reason": nil,
                         "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []]
        return [
            "id": .string(id), "object": "account",
            "business_profile": ["annual_revenue": nil, "estimated_worker_count": nil, "mcc": nil,
                                 "name": .string(displayName), "product_description": nil, "support_address": nil,
                                 "support_email": nil, "support_phone": nil, "support_url": nil, "url": nil,
                                 "minority_owned_business_designation": nil],
            "business_type": nil,
            "capabilities": ["card_payments": "active", "transfers": "active"],
            "charges_enabled": true,
            "controller": ["type": "account"],
            "country": .string(country),
            "created": .int(created),
            "default_currency": .string(defaultCurrency),
            "details_submitted": true,
            "email": .string(email),
            "external_accounts": .list([], hasMore: false, url: "/v1/accounts/\(id)/external_accounts"),
            "future_requirements": due,
            "metadata": [:],
            "payouts_enabled": true,
            "requirements": due,
            "settings": [
                "bacs_debit_payments": ["display_name": nil, "service_user_number": nil],
                "branding": ["icon": nil, "logo": nil, "primary_color": nil, "secondary_color": nil],
                "card_issuing": ["tos_acceptance": ["date": nil, "ip": nil]],
                "card_payments": ["decline_on": ["avs_failure": false, "cvc_failure": false],
                                  "statement_descriptor_prefix": nil, "statement_descriptor_prefix_kana": nil,
                                  "statement_descriptor_prefix_kanji": nil],
                "dashboard": ["display_name": .string(displayName), "timezone": "Etc/UTC"],
                "invoices": ["default_account_tax_ids": nil, "hosted_payment_method_save": nil],
                "payments": ["statement_descriptor": nil, "statement_descriptor_kana": nil,
                             "statement_descriptor_kanji": nil, "statement_descriptor_prefix_kana": nil,
                             "statement_descriptor_prefix_kanji": nil],
                "payouts": ["debit_negative_balances": true, "schedule": ["delay_days": 2, "interval": "daily"],
                            "statement_descriptor": nil],
                "sepa_debit_payments": [:],
            ],
            "tos_acceptance": ["date": nil, "ip": nil, "user_agent": nil],
            "type": "standard",
        ]
    }
}

struct Customer: Sendable {
    var id: String
    var created: Int64
    var address: Address?
    /// Positive: the customer owes it (Stripe's minimum charge carries here); negative: credit.
    var balance: Int64 = 0
    var currency: String?
    /// True while the customer's latest invoice payment attempt failed.
    var delinquent = false
    var description: String?
    var email: String?
    var invoicePrefix: String
    var defaultPaymentMethod: String?
    var metadata: [String: String] = [:]
    var name: String?
    var nextInvoiceSequence: Int64 = 1
    var phone: String?
    var preferredLocales: [String] = []
    var taxExempt = "none"

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "customer",
            "address": address?.json ?? .null,
            "balance": .int(balance),
            "created": .int(created),
            "currency": .nullable(currency),
            "default_source": nil,
            "delinquent": .bool(delinquent),
            "description": .nullable(description),
            "discount": nil,
            "email": .nullable(email),
            "invoice_prefix": .string(invoicePrefix),
            "invoice_settings": ["custom_fields": nil, "default_payment_method": .nullable(defaultPaymentMethod),
                                 "footer": nil, "rendering_options": nil],
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "name": .nullable(name),
            "next_invoice_sequence": .int(nextInvoiceSequence),
            "phone": .nullable(phone),
            "preferred_locales": .array(preferredLocales.map { .string($0) }),
            "shipping": nil,
            "tax_exempt": .string(taxExempt),
            "test_clock": nil,
        ]
    }
}

/// A card payment method. Its test card fixes what a charge to it does.
struct PaymentMethod: Sendable {
    var id: String
    var created: Int64
    var customer: String?
    var card: TestCard
    var metadata: [String: String] = [:]

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": ["address": Address().json, "email": nil, "name": nil, "phone": nil, "tax_id": nil],
            "card": [
                "brand": .string(card.brand),
                "checks": ["address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"],
                "country": "US",
                "display_brand": .string(card.brand),
                "exp_month": 12,
                "exp_year": 2034,
                "fingerprint": .string("sim\(card.last4)\(card.brand)"),
                "funding": "credit",
                "generated_from": nil,
                "last4": .string(card.last4),
                "networks": ["available": [.string(card.brand)], "preferred": nil],
                "three_d_secure_usage": ["supported": true],
                "wallet": nil,
                "regulated_status": "unregulated",
            ],
            "created": .int(created),
            "customer": .nullable(customer),
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "type": "card",
            "customer_account": nil,
        ]
    }
}

struct CheckoutSession: Sendable {
    var id: String
    var created: Int64
    var expiresAt: Int64
    var customer: String?
    var currency: String?
    var successURL: String?
    var cancelURL: String?
    var clientReferenceId: String?
    var metadata: [String: String] = [:]
    var paymentMethodTypes: [String]
    var status = "open"
    var setupIntent: String?
    var url: String?
    var customerEmail: String?

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "checkout.session",
            "after_expiration": nil,
            "allow_promotion_codes": nil,
            "amount_subtotal": nil,
            "amount_total": nil,
            "automatic_tax": ["enabled": false, "liability": nil, "status": nil, "provider": nil],
            "billing_address_collection": nil,
            "cancel_url": .nullable(cancelURL),
            "client_reference_id": .nullable(clientReferenceId),
            "client_secret": nil,
            "consent": nil,
            "consent_collection": nil,
            "created": .int(created),
            "currency": .nullable(currency),
            "custom_fields": [],
            "custom_text": ["after_submit": nil, "shipping_address": nil, "submit": nil,
                            "terms_of_service_acceptance": nil],
            "customer": .nullable(customer),
            "customer_creation": nil,
            "customer_details": status == "complete"
                ? ["address": nil, "email": .nullable(customerEmail), "name": nil, "phone": nil, "tax_exempt": "none",
                   "tax_ids": [], "business_name": nil, "individual_name": nil]
                : nil,
            "customer_email": nil,
            "expires_at": .int(expiresAt),
            "invoice": nil,
            "invoice_creation": nil,
            "livemode": .bool(livemode),
            "locale": nil,
            "metadata": .map(metadata),
            "mode": "setup",
            "payment_intent": nil,
            "payment_link": nil,
            "payment_method_collection": "always",
            "payment_method_configuration_details": nil,
            "payment_method_options": [:],
            "payment_method_types": .array(paymentMethodTypes.map { .string($0) }),
            "payment_status": "no_payment_required",
            "phone_number_collection": ["enabled": false],
            "recovered_from": nil,
            "saved_payment_method_options": nil,
            "setup_intent": .nullable(setupIntent),
            "shipping_address_collection": nil,
            "shipping_cost": nil,
            "shipping_options": [],
            "status": .string(status),
            "submit_type": nil,
            "subscription": nil,
            "success_url": .nullable(successURL),
            "total_details": nil,
            "ui_mode": "hosted",
            "url": status == "open" ? .nullable(url) : nil,
            "adaptive_pricing": nil,
            "discounts": nil,
            "collected_information": nil,
            "permissions": nil,
            "wallet_options": nil,
            "origin_context": nil,
            "currency_conversion": nil,
            "customer_account": nil,
            "integration_identifier": nil,
            "managed_payments": nil,
        ]
    }
}

struct PortalSession: Sendable {
    var id: String
    var created: Int64
    var customer: String
    var returnURL: String?
    var locale: String?
    var url: String

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "billing_portal.session",
            "configuration": "bpc_simulatordefault",
            "created": .int(created),
            "customer": .string(customer),
            "flow": nil,
            "livemode": .bool(livemode),
            "locale": .nullable(locale),
            "on_behalf_of": nil,
            "return_url": .nullable(returnURL),
            "url": .string(url),
            "customer_account": nil,
        ]
    }
}

struct WebhookEndpoint: Sendable {
    var id: String
    var created: Int64
    var url: String
    var enabledEvents: [String]
    var apiVersion: String?
    var description: String?
    var metadata: [String: String] = [:]
    var disabled = false
    var secret: String

    /// Whether an event of `type` goes to this endpoint.
    func wants(_ type: String) -> Bool {
        !disabled && enabledEvents.contains { $0 == "*" || $0 == type }
    }

    /// Where the deliverer sends to it.
    var target: DeliveryTarget { DeliveryTarget(endpoint: id, url: url, secret: secret) }

    func json(livemode: Bool, withSecret: Bool = false) -> JSON {
        var json: JSON = [
            "id": .string(id), "object": "webhook_endpoint",
            "api_version": .nullable(apiVersion),
            "application": nil,
            "created": .int(created),
            "description": .nullable(description),
            "enabled_events": .array(enabledEvents.map { .string($0) }),
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "status": disabled ? "disabled" : "enabled",
            "url": .string(url),
        ]
        if withSecret { json = json.setting("secret", .string(secret)) }
        return json
    }
}

struct Event: Sendable {
    var id: String
    var type: String
    var created: Int64
    var object: JSON
    var requestId: String?
    var idempotencyKey: String?
    var pendingWebhooks: Int64

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "event",
            "api_version": .string(Simulator.apiVersion),
            "created": .int(created),
            "data": ["object": object],
            "livemode": .bool(livemode),
            "pending_webhooks": .int(pendingWebhooks),
            "request": ["id": .nullable(requestId), "idempotency_key": .nullable(idempotencyKey)],
            "type": .string(type),
        ]
    }
}
