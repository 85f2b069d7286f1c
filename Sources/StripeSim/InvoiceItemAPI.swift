enum InvoiceItemAPI {
    static func create(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        guard let customerId = params.text("customer") else { throw .missing("customer") }
        var customer = try state.customer(customerId)
        var invoice: Invoice?
        if let invoiceId = params.text("invoice") {
            let found = try state.invoice(invoiceId)
            guard found.customer == customer.id else {
                throw .invalidRequest("Invoice \(found.id) belongs to customer \(found.customer), not \(customer.id).", param: "invoice")
            }
            guard found.status == .draft else {
                throw .state("You can only add invoice items to a draft invoice; \(found.id) is \(found.status.rawValue).",
                             param: "invoice", code: "invoice_not_editable")
            }
            guard found.lines.count < InvoiceAPI.maximumLines else {
                throw .state("An invoice can have at most \(InvoiceAPI.maximumLines) line items; \(found.id) is full.", param: "invoice")
            }
            invoice = found
        }
        let quantity = params.int("quantity") ?? 1
        let amount: Int64
        if let value = params.int("amount") {
            amount = value
        } else if let unit = params.nested("price_data")?.int("unit_amount") {
            amount = unit * quantity
        } else if let unit = params.string("unit_amount_decimal"), let whole = Int64(unit) {
            amount = whole * quantity
        } else {
            throw .missing("amount")
        }
        let currency = (params.text("currency") ?? params.nested("price_data")?.text("currency") ?? invoice?.currency
            ?? customer.currency ?? state.account.defaultCurrency).lowercased()
        if let invoice, invoice.currency != currency {
            throw .invalidRequest("The currency of an invoice item (\(currency)) must match its invoice's (\(invoice.currency)).",
                                  param: "currency")
        }
        let period = params.nested("period")
        let item = InvoiceItem(id: Identifiers.make("ii_", 24), created: context.now, customer: customer.id,
                               invoice: invoice?.id, amount: amount, currency: currency, description: params.text("description"),
                               periodStart: period?.int("start") ?? context.now, periodEnd: period?.int("end") ?? context.now,
                               quantity: quantity, metadata: merged([:], with: params["metadata"]),
                               discountable: params.bool("discountable") ?? true)
        state.invoiceItems[item.id] = item
        if var invoice {
            invoice.lines.append(InvoiceAPI.line(for: item))
            invoice.recompute()
            state.invoices[invoice.id] = invoice
        }
        if customer.currency == nil {
            customer.currency = currency
            state.customers[customer.id] = customer
        }
        let json = item.json(livemode: state.livemode)
        state.emit("invoiceitem.created", json, context: context)
        return json
    }

    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let item = state.invoiceItems[id] else { throw .noSuch("invoiceitem", id) }
        return item.json(livemode: state.livemode)
    }

    static func list(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let invoice = params.text("invoice"), customer = params.text("customer"), pending = params.bool("pending")
        let items = state.invoiceItems.newestFirst.filter {
            (invoice == nil || $0.invoice == invoice) && (customer == nil || $0.customer == customer)
                && (pending == nil || ($0.invoice == nil) == pending)
        }
        let livemode = state.livemode
        return try page(items, id: \.id, noun: "invoiceitem", context: context, url: "/v1/invoiceitems") {
            $0.json(livemode: livemode)
        }
    }

    /// Deletes a pending item or one on a draft invoice, with its line.
    static func delete(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let item = state.invoiceItems[id] else { throw .noSuch("invoiceitem", id) }
        if let invoiceId = item.invoice, var invoice = state.invoices[invoiceId] {
            guard invoice.status == .draft else {
                throw .state("You can only delete invoice items of a draft invoice; \(invoice.id) is \(invoice.status.rawValue).",
                             code: "invoice_not_editable")
            }
            invoice.lines.removeAll { $0.invoiceItem == item.id }
            invoice.recompute()
            state.invoices[invoice.id] = invoice
        }
        state.invoiceItems[id] = nil
        let json: JSON = ["id": .string(id), "object": "invoiceitem", "deleted": true]
        state.emit("invoiceitem.deleted", item.json(livemode: state.livemode), context: context)
        return json
    }
}

enum TaxAPI {
    static func createCalculation(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let currency = (params.string("currency") ?? "").lowercased()
        var customer: Customer?
        if let id = params.text("customer") { customer = try state.customer(id) }
        let details = params.nested("customer_details")
        let address = details?.nested("address").map(Address.init) ?? customer?.address
        guard let address, address.country != nil else {
            throw .invalidRequest("A tax calculation needs the customer's address: pass customer_details[address] or a customer with an address.",
                                  param: "customer_details[address]", code: "customer_tax_location_invalid")
        }
        var override = details?.string("taxability_override") ?? "none"
        if override == "none", let exempt = customer?.taxExempt {
            if exempt == "exempt" { override = "customer_exempt" } else if exempt == "reverse" { override = "reverse_charge" }
        }
        let rule = TaxRule.match(context.taxRules, country: address.country, state: address.state)
        var lines: [TaxLine] = []
        var breakdown: [TaxBreakdown] = []
        for (index, item) in (params.list("line_items") ?? []).enumerated() {
            let amount = item.int("amount") ?? 0
            let behavior = item.string("tax_behavior") ?? "exclusive"
            let reason: String
            var tax: Int64 = 0
            switch (override, rule) {
            case ("customer_exempt", _): reason = "customer_exempt"
            case ("reverse_charge", _): reason = "reverse_charge"
            case (_, nil): reason = "not_collecting"
            case let (_, rule?):
                reason = "standard_rated"
                tax = behavior == "inclusive" ? rule.percentage.inclusiveTax(in: amount) : rule.percentage.exclusiveTax(on: amount)
            }
            lines.append(TaxLine(id: Identifiers.make("tax_li_", 14), amount: amount, amountTax: tax,
                                 quantity: item.int("quantity") ?? 1, reference: item.string("reference") ?? "line_\(index)",
                                 taxBehavior: behavior, taxCode: item.string("tax_code") ?? "txcd_10000000",
                                 metadata: item.map("metadata")))
            let taxable = behavior == "inclusive" ? amount - tax : amount
            if let index = breakdown.firstIndex(where: { $0.inclusive == (behavior == "inclusive") && $0.taxabilityReason == reason }) {
                breakdown[index].amount += tax
                breakdown[index].taxableAmount += taxable
            } else {
                breakdown.append(TaxBreakdown(amount: tax, inclusive: behavior == "inclusive", taxableAmount: taxable,
                                              rule: reason == "standard_rated" ? rule : nil, taxabilityReason: reason))
            }
        }
        let calculation = TaxCalculation(id: Identifiers.make("taxcalc_", 24), created: context.now, currency: currency,
                                         customer: customer?.id,
                                         customerDetails: TaxCustomerDetails(address: address,
                                                                             addressSource: details?.string("address_source") ?? "billing",
                                                                             taxabilityOverride: override == "none" ? "none" : override),
                                         lines: lines, breakdown: breakdown, taxDate: params.int("tax_date") ?? context.now)
        state.taxCalculations[calculation.id] = calculation
        return calculation.json(livemode: state.livemode, expandLines: context.expand.contains("line_items"))
    }

    static func retrieveCalculation(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let calculation = state.taxCalculations[id] else { throw .noSuch("tax.calculation", id, param: "calculation") }
        return calculation.json(livemode: state.livemode, expandLines: context.expand.contains("line_items"))
    }

    static func listCalculationLines(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let calculation = state.taxCalculations[id] else { throw .noSuch("tax.calculation", id, param: "calculation") }
        let livemode = state.livemode
        return try page(calculation.lines, id: \.id, noun: "tax.calculation_line_item", context: context,
                        url: "/v1/tax/calculations/\(id)/line_items") { $0.calculationJSON(livemode: livemode) }
    }

    static func createTransaction(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let id = params.string("calculation") ?? ""
        guard let calculation = state.taxCalculations[id] else { throw .noSuch("tax.calculation", id, param: "calculation") }
        let reference = try unusedReference(params.string("reference") ?? "", state: state)
        let transaction = TaxTransaction(id: Identifiers.make("tax_", 24), created: context.now, currency: calculation.currency,
                                         customer: calculation.customer, customerDetails: calculation.customerDetails,
                                         lines: calculation.lines.map { line in
                                             var copy = line
                                             copy.id = Identifiers.make("tax_li_", 14)
                                             return copy
                                         },
                                         metadata: params.map("metadata"), postedAt: params.int("posted_at") ?? context.now,
                                         reference: reference, taxDate: calculation.taxDate)
        state.taxTransactions[transaction.id] = transaction
        return transaction.json(livemode: state.livemode)
    }

    static func createReversal(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let originalId = params.string("original_transaction") ?? ""
        guard let original = state.taxTransactions[originalId], original.originalTransaction == nil else {
            throw .noSuch("tax.transaction", originalId, param: "original_transaction")
        }
        let reference = try unusedReference(params.string("reference") ?? "", state: state)
        var lines: [TaxLine] = []
        if params.string("mode") == "full" {
            lines = original.lines.map { line in
                var reversed = line
                reversed.id = Identifiers.make("tax_li_", 14)
                reversed.amount = -line.amount
                reversed.amountTax = -line.amountTax
                reversed.originalLine = line.id
                return reversed
            }
        } else {
            guard params.int("flat_amount") == nil else {
                throw .invalidRequest("The simulator reverses by line_items only; flat_amount is not served.", param: "flat_amount")
            }
            guard let items = params.list("line_items"), !items.isEmpty else { throw .missing("line_items") }
            for (index, item) in items.enumerated() {
                let lineId = item.string("original_line_item") ?? ""
                guard let line = original.lines.first(where: { $0.id == lineId }) else {
                    throw .noSuch("tax.transaction_line_item", lineId, param: "line_items[\(index)][original_line_item]")
                }
                let amount = item.int("amount") ?? 0, amountTax = item.int("amount_tax") ?? 0
                guard amount <= 0, amountTax <= 0 else {
                    throw .invalidRequest("A reversal's amounts are negative or zero.", param: "line_items[\(index)][amount]")
                }
                lines.append(TaxLine(id: Identifiers.make("tax_li_", 14), amount: amount, amountTax: amountTax,
                                     quantity: item.int("quantity") ?? line.quantity, reference: item.string("reference") ?? line.reference,
                                     taxBehavior: line.taxBehavior, taxCode: line.taxCode, metadata: item.map("metadata"),
                                     originalLine: line.id))
            }
        }
        let reversal = TaxTransaction(id: Identifiers.make("tax_", 24), created: context.now, currency: original.currency,
                                      customer: original.customer, customerDetails: original.customerDetails, lines: lines,
                                      metadata: params.map("metadata"), postedAt: context.now, reference: reference,
                                      taxDate: original.taxDate, originalTransaction: original.id)
        state.taxTransactions[reversal.id] = reversal
        return reversal.json(livemode: state.livemode)
    }

    static func retrieveTransaction(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let transaction = state.taxTransactions[id] else { throw .noSuch("tax.transaction", id, param: "transaction") }
        return transaction.json(livemode: state.livemode)
    }

    /// Stripe keeps a transaction's reference unique in the account.
    private static func unusedReference(_ reference: String, state: AccountState) throws(APIError) -> String {
        guard !state.taxTransactions.oldestFirst.contains(where: { $0.reference == reference }) else {
            throw .invalidRequest("A tax transaction with reference '\(reference)' already exists.", param: "reference")
        }
        return reference
    }
}

enum WebhookAPI {
    static func create(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let url = try validURL(params.string("url") ?? "")
        let events = try eventTypes(params)
        let endpoint = WebhookEndpoint(id: Identifiers.make("we_", 24), created: context.now, url: url, enabledEvents: events,
                                       apiVersion: params.text("api_version"), description: params.text("description"),
                                       metadata: merged([:], with: params["metadata"]), secret: Identifiers.make("whsec_", 32))
        state.webhookEndpoints[endpoint.id] = endpoint
        return endpoint.json(livemode: state.livemode, withSecret: true)
    }

    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        try endpoint(state, context).json(livemode: state.livemode)
    }

    static func list(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let livemode = state.livemode
        return try page(state.webhookEndpoints.newestFirst, id: \.id, noun: "webhook endpoint", context: context,
                        url: "/v1/webhook_endpoints") { $0.json(livemode: livemode) }
    }

    static func update(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var endpoint = try endpoint(state, context)
        if let url = params.string("url") { endpoint.url = try validURL(url) }
        if params["enabled_events"] != nil { endpoint.enabledEvents = try eventTypes(params) }
        if let description = params.string("description") { endpoint.description = description.isEmpty ? nil : description }
        if let disabled = params.bool("disabled") { endpoint.disabled = disabled }
        endpoint.metadata = merged(endpoint.metadata, with: params["metadata"])
        state.webhookEndpoints[endpoint.id] = endpoint
        return endpoint.json(livemode: state.livemode)
    }

    static func delete(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let endpoint = try endpoint(state, context)
        state.webhookEndpoints[endpoint.id] = nil
        return ["id": .string(endpoint.id), "object": "webhook_endpoint", "deleted": true]
    }

    private static func endpoint(_ state: AccountState, _ context: RequestContext) throws(APIError) -> WebhookEndpoint {
        let id = context.argument(0)
        guard let endpoint = state.webhookEndpoints[id] else { throw .noSuch("webhook endpoint", id, param: "webhook_endpoint") }
        return endpoint
    }

    private static func validURL(_ text: String) throws(APIError) -> String {
        guard text.hasPrefix("https://") || text.hasPrefix("http://"), text.count > 8 else {
            throw .invalidRequest("Invalid URL: \(text.isEmpty ? "(empty)" : text). A webhook URL must be an http(s) address.", param: "url",
                                  code: "url_invalid")
        }
        return text
    }

    private static func eventTypes(_ params: Params) throws(APIError) -> [String] {
        let types = params.strings("enabled_events") ?? []
        guard !types.isEmpty else { throw .missing("enabled_events") }
        for (index, type) in types.enumerated()
        where type != "*" && !(type.contains(".") && type.allSatisfy({ $0.isLowercase || $0 == "." || $0 == "_" })) {
            throw .invalidRequest("Invalid enabled_events[\(index)]: '\(type)' is not an event type", param: "enabled_events[\(index)]")
        }
        return types
    }
}

enum EventAPI {
    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let id = context.argument(0)
        guard let event = state.events[id] else { throw .noSuch("event", id) }
        return event.json(livemode: state.livemode)
    }

    /// Events newest first, filtered by `type` (a trailing `*` matches a prefix: `invoice.*`)
    /// or `types[]`.
    static func list(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let type = params.text("type"), types = params.strings("types")
        let events = state.events.newestFirst.filter { event in
            if let types, !types.contains(event.type) { return false }
            guard let type else { return true }
            if type.hasSuffix("*") { return event.type.hasPrefix(type.dropLast()) }
            return event.type == type
        }
        let livemode = state.livemode
        return try page(events, id: \.id, noun: "event", context: context, url: "/v1/events") { $0.json(livemode: livemode) }
    }
}
