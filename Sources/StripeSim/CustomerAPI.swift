enum AccountAPI {
    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        state.account.json(livemode: state.livemode)
    }
}

enum CustomerAPI {
    static func create(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var customer = Customer(id: Identifiers.make("cus_", 14), created: context.now,
                                invoicePrefix: params.text("invoice_prefix") ?? Identifiers.invoicePrefix())
        try apply(params, to: &customer)
        // Stripe lets the payment method attached in this call be named the default in it too;
        // nothing else is attached to a new customer.
        let token = params.text("payment_method")
        let defaultMethod = params.nested("invoice_settings")?.text("default_payment_method")
        if let defaultMethod, defaultMethod != token {
            throw .noSuch("PaymentMethod", defaultMethod, param: "invoice_settings[default_payment_method]")
        }
        if let token {
            let method = try attach(token, to: customer.id, state: &state, context: context, param: "payment_method")
            if defaultMethod != nil { customer.defaultPaymentMethod = method.id }
        }
        if let balance = params.int("balance") { customer.balance = balance }
        state.customers[customer.id] = customer
        let json = customer.json(livemode: state.livemode)
        state.emit("customer.created", json, context: context)
        return json
    }

    static func update(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var customer = try state.customer(context.argument(0), param: "id")
        try apply(params, to: &customer)
        if let settings = params.nested("invoice_settings"), let value = settings.string("default_payment_method") {
            if value.isEmpty {
                customer.defaultPaymentMethod = nil
            } else {
                guard let method = state.paymentMethods[value], method.customer == customer.id else {
                    throw .invalidRequest("The customer does not have a payment method with the ID \(value). The payment method must be attached to the customer.",
                                          param: "invoice_settings[default_payment_method]", code: "resource_missing")
                }
                customer.defaultPaymentMethod = method.id
            }
        }
        if let balance = params.int("balance") { customer.balance = balance }
        if let sequence = params.int("next_invoice_sequence") { customer.nextInvoiceSequence = sequence }
        state.customers[customer.id] = customer
        let json = customer.json(livemode: state.livemode)
        state.emit("customer.updated", json, context: context)
        return json
    }

    /// The fields create and update share.
    private static func apply(_ params: Params, to customer: inout Customer) throws(APIError) {
        if let address = params["address"] {
            customer.address = address.string == "" ? nil : Address(Params(values: address.object ?? [:]))
        }
        if let email = params.string("email") { customer.email = email.isEmpty ? nil : email }
        if let name = params.string("name") { customer.name = name.isEmpty ? nil : name }
        if let phone = params.string("phone") { customer.phone = phone.isEmpty ? nil : phone }
        if let description = params.string("description") { customer.description = description.isEmpty ? nil : description }
        if let prefix = params.text("invoice_prefix") {
            guard (3...12).contains(prefix.count), prefix.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) }) else {
                throw .invalidRequest("Invalid invoice_prefix: must be 3 to 12 upper-case letters or digits", param: "invoice_prefix")
            }
            customer.invoicePrefix = prefix
        }
        if let exempt = params.string("tax_exempt") { customer.taxExempt = exempt.isEmpty ? "none" : exempt }
        if let locales = params.strings("preferred_locales") { customer.preferredLocales = locales }
        customer.metadata = merged(customer.metadata, with: params["metadata"])
    }

    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        try state.customer(context.argument(0), param: "id").json(livemode: state.livemode)
    }

    static func list(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let email = context.params.string("email")
        let customers = state.customers.newestFirst.filter { email == nil || $0.email == email }
        let livemode = state.livemode
        return try page(customers, id: \.id, noun: "customer", context: context, url: "/v1/customers") {
            $0.json(livemode: livemode)
        }
    }

    static func listPaymentMethods(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let customer = try state.customer(context.argument(0), param: "customer")
        let type = context.params.string("type")
        let methods = state.paymentMethods.newestFirst.filter { $0.customer == customer.id && (type == nil || type == "card") }
        let livemode = state.livemode
        return try page(methods, id: \.id, noun: "payment method", context: context,
                        url: "/v1/customers/\(customer.id)/payment_methods") { $0.json(livemode: livemode) }
    }

    static func retrievePaymentMethod(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let customer = try state.customer(context.argument(0), param: "customer")
        let id = context.argument(1)
        guard let method = state.paymentMethods[id], method.customer == customer.id else {
            throw .noSuch("PaymentMethod", id, param: "payment_method")
        }
        return method.json(livemode: state.livemode)
    }

    static func retrieveAnyPaymentMethod(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let method = state.paymentMethods[id] else { throw .noSuch("PaymentMethod", id, param: "payment_method") }
        return method.json(livemode: state.livemode)
    }

    /// Attaches a new payment method made from a test card token (`pm_card_visa`, ...) to a
    /// customer and emits `payment_method.attached`. A card that fails Stripe's check on
    /// attaching (0002, 9995) is a 402 `card_error` and nothing is attached.
    static func attach(_ token: String, to customer: String, state: inout AccountState, context: RequestContext,
                       param: String) throws(APIError) -> PaymentMethod {
        guard let card = TestCard.named(token) else {
            throw .invalidRequest("No such PaymentMethod: '\(token)'. The simulator knows the test cards \(TestCard.tokens).",
                                  param: param, code: "resource_missing", status: 404)
        }
        if card.declinesOnAttach, case let .declined(declineCode, message) = card.outcome {
            throw APIError(status: 402, type: "card_error", code: "card_declined", param: param, message: message, declineCode: declineCode)
        }
        let method = PaymentMethod(id: Identifiers.make("pm_", 24), created: context.now, customer: customer, card: card)
        state.paymentMethods[method.id] = method
        state.emit("payment_method.attached", method.json(livemode: state.livemode), context: context)
        return method
    }
}

enum SessionAPI {
    static func createCheckout(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        guard let mode = params.text("mode") else { throw .missing("mode") }
        guard mode == "setup" else {
            throw .invalidRequest("The simulator creates Checkout Sessions in setup mode only; mode '\(mode)' is not served.",
                                  param: "mode")
        }
        var customer: Customer?
        if let id = params.text("customer") { customer = try state.customer(id) }
        let uiMode = params.string("ui_mode") ?? "hosted"
        if uiMode == "hosted", params.text("success_url") == nil {
            throw .missing("success_url")
        }
        // Stripe needs a currency in setup mode unless the payment method types are named.
        let currency = params.text("currency")
        if currency == nil, params.strings("payment_method_types") == nil {
            throw .missing("currency")
        }
        let id = Identifiers.make(state.livemode ? "cs_live_" : "cs_test_", 58)
        let session = CheckoutSession(id: id, created: context.now, expiresAt: context.now + 86_400,
                                      customer: customer?.id, currency: currency?.lowercased(),
                                      successURL: params.text("success_url"), cancelURL: params.text("cancel_url"),
                                      clientReferenceId: params.text("client_reference_id"),
                                      metadata: merged([:], with: params["metadata"]),
                                      paymentMethodTypes: params.strings("payment_method_types") ?? ["card"],
                                      url: "\(context.publicBase)/_sim/pages/checkout/\(id)",
                                      customerEmail: customer?.email)
        state.checkoutSessions[session.id] = session
        return session.json(livemode: state.livemode)
    }

    static func retrieveCheckout(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let session = state.checkoutSessions[id] else { throw .noSuch("checkout.session", id, param: "session") }
        return session.json(livemode: state.livemode)
    }

    static func createPortal(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        guard let id = params.text("customer") else { throw .missing("customer") }
        let customer = try state.customer(id)
        let sessionId = Identifiers.make("bps_", 24)
        let session = PortalSession(id: sessionId, created: context.now, customer: customer.id,
                                    returnURL: params.text("return_url"), locale: params.text("locale"),
                                    url: "\(context.publicBase)/_sim/pages/portal/\(sessionId)")
        state.portalSessions[session.id] = session
        return session.json(livemode: state.livemode)
    }
}
