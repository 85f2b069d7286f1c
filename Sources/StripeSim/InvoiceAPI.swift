/// Invoices: draft -> open -> paid | uncollectible | void, with Stripe's rules for each step.
enum InvoiceAPI {
    /// Stripe's limit of lines on one invoice.
    static let maximumLines = 250
    /// When a failed automatic payment is retried (Stripe's Smart Retries choose; a fixed 3 days here).
    static let retryInterval: Int64 = 3 * 86_400

    static func create(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        guard let customerId = params.text("customer") else { throw .missing("customer") }
        var customer = try state.customer(customerId)
        let currency = (params.text("currency") ?? customer.currency ?? state.account.defaultCurrency).lowercased()
        var invoice = Invoice(id: Identifiers.make("in_", 24), created: context.now, customer: customer.id, currency: currency,
                              autoAdvance: params.bool("auto_advance") ?? false, description: params.text("description"),
                              footer: params.text("footer"), metadata: merged([:], with: params["metadata"]),
                              customerTaxExempt: customer.taxExempt)
        snapshot(customer, into: &invoice)
        if params.string("pending_invoice_items_behavior") == "include" {
            for item in state.invoiceItems.oldestFirst
            where item.customer == customer.id && item.invoice == nil && item.currency == currency {
                var attached = item
                attached.invoice = invoice.id
                state.invoiceItems[item.id] = attached
                invoice.lines.append(line(for: attached))
            }
        }
        invoice.recompute()
        if customer.currency == nil {
            customer.currency = currency
            state.customers[customer.id] = customer
        }
        state.invoices[invoice.id] = invoice
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.created", json, context: context)
        return json
    }

    static func retrieve(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        state.invoiceJSON(try state.invoice(context.argument(0)))
    }

    static func list(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        let customer = params.text("customer"), status = params.text("status")
        let invoices = state.invoices.newestFirst.filter {
            (customer == nil || $0.customer == customer) && (status == nil || $0.status.rawValue == status)
        }
        let copy = state
        return try page(invoices, id: \.id, noun: "invoice", context: context, url: "/v1/invoices") { copy.invoiceJSON($0) }
    }

    static func update(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var invoice = try state.invoice(context.argument(0))
        let editable: Set<String> = invoice.status == .draft ? [] : ["metadata", "expand", "description", "footer", "auto_advance"]
        if invoice.status != .draft, let name = params.values.keys.sorted().first(where: { !editable.contains($0) }) {
            throw .state("You can only update \(name) on a draft invoice; \(invoice.id) is \(invoice.status.rawValue).", param: name)
        }
        if (invoice.status == .paid || invoice.status == .void),
           let name = params.values.keys.sorted().first(where: { $0 != "metadata" && $0 != "expand" }) {
            throw .state("A \(invoice.status.rawValue) invoice takes only metadata changes; \(name) cannot change.", param: name)
        }
        if let value = params.string("description") { invoice.description = value.isEmpty ? nil : value }
        if let value = params.string("footer") { invoice.footer = value.isEmpty ? nil : value }
        if let value = params.bool("auto_advance") { invoice.autoAdvance = value }
        invoice.metadata = merged(invoice.metadata, with: params["metadata"])
        state.invoices[invoice.id] = invoice
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.updated", json, context: context)
        return json
    }

    static func finalize(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        var invoice = try state.invoice(context.argument(0))
        guard invoice.status == .draft else {
            throw .state("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        }
        if let message = invoice.failNextFinalization {
            let error = APIError.state(message)
            invoice.failNextFinalization = nil
            invoice.lastFinalizationError = error
            state.invoices[invoice.id] = invoice
            state.emit("invoice.finalization_failed", state.invoiceJSON(invoice), context: context)
            throw error
        }
        if let value = context.params.bool("auto_advance") { invoice.autoAdvance = value }
        var customer = try state.customer(invoice.customer)
        snapshot(customer, into: &invoice)
        invoice.number = String(format: "%@-%04lld", customer.invoicePrefix, customer.nextInvoiceSequence)
        customer.nextInvoiceSequence += 1

        // The customer's balance is applied now: a debit (a carried minimum charge) adds to the
        // amount due, a credit reduces it. An amount due above zero and below the currency's
        // minimum charge is not charged but carried on the balance to the next invoice.
        invoice.startingBalance = customer.balance
        let due = invoice.total + customer.balance
        if due <= 0 || due < MinimumCharge.amount(invoice.currency) {
            invoice.amountDue = 0
            invoice.endingBalance = due
            customer.balance = due
        } else {
            invoice.amountDue = due
            invoice.endingBalance = 0
            customer.balance = 0
        }
        invoice.amountRemaining = invoice.amountDue - invoice.amountPaid
        state.customers[customer.id] = customer

        invoice.status = .open
        invoice.finalizedAt = context.now
        invoice.lastFinalizationError = nil
        invoice.webhooksDeliveredAt = context.now
        invoice.hostedInvoiceURL = "\(context.publicBase)/_sim/pages/invoices/\(invoice.id)"
        invoice.invoicePDF = "\(context.publicBase)/_sim/pages/invoices/\(invoice.id)/pdf"
        invoice.nextPaymentAttempt = invoice.autoAdvance ? context.now + 3600 : nil
        state.invoices[invoice.id] = invoice
        state.emit("invoice.finalized", state.invoiceJSON(invoice), context: context)

        if invoice.amountDue == 0 {
            markPaid(&invoice, state: &state, context: context, charged: false)
        } else if invoice.autoAdvance {
            // The first automatic attempt happens at once; its failure is not the call's.
            _ = charge(&invoice, state: &state, context: context, paymentMethod: nil)
        }
        state.invoices[invoice.id] = invoice
        return state.invoiceJSON(invoice)
    }

    static func pay(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var invoice = try state.invoice(context.argument(0))
        switch invoice.status {
        case .open, .uncollectible: break
        case .paid: throw .state("Invoice is already paid.")
        case .draft: throw .state("You can only pay an open invoice; \(invoice.id) is a draft. Finalize it first.")
        case .void: throw .state("You cannot pay a void invoice.")
        }
        if params.bool("paid_out_of_band") == true {
            invoice.amountPaidOffStripe += invoice.amountRemaining
            markPaid(&invoice, state: &state, context: context, charged: false)
            state.invoices[invoice.id] = invoice
            return state.invoiceJSON(invoice)
        }
        if let method = params.text("payment_method") {
            guard let found = state.paymentMethods[method], found.customer == invoice.customer else {
                throw .noSuch("PaymentMethod", method, param: "payment_method")
            }
        }
        let failure = charge(&invoice, state: &state, context: context, paymentMethod: params.text("payment_method"))
        state.invoices[invoice.id] = invoice
        if let failure { throw failure }
        return state.invoiceJSON(invoice)
    }

    static func void(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        var invoice = try state.invoice(context.argument(0))
        guard invoice.status == .open || invoice.status == .uncollectible else {
            throw .state("You can only void an open or uncollectible invoice; \(invoice.id) is \(invoice.status.rawValue).")
        }
        invoice.status = .void
        invoice.voidedAt = context.now
        invoice.nextPaymentAttempt = nil
        state.invoices[invoice.id] = invoice
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.voided", json, context: context)
        return json
    }

    static func markUncollectible(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        var invoice = try state.invoice(context.argument(0))
        guard invoice.status == .open else {
            throw .state("You can only mark an open invoice uncollectible; \(invoice.id) is \(invoice.status.rawValue).")
        }
        invoice.status = .uncollectible
        invoice.markedUncollectibleAt = context.now
        invoice.nextPaymentAttempt = nil
        state.invoices[invoice.id] = invoice
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.marked_uncollectible", json, context: context)
        return json
    }

    static func listLines(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let invoice = try state.invoice(context.argument(0))
        let livemode = state.livemode
        return try page(invoice.lines, id: \.id, noun: "invoice line item", context: context,
                        url: "/v1/invoices/\(invoice.id)/lines") { $0.json(invoice: invoice.id, livemode: livemode) }
    }

    static func updateLine(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        var invoice = try editableInvoice(state, context.argument(0))
        let lineId = context.argument(1)
        guard let index = invoice.lines.firstIndex(where: { $0.id == lineId }) else {
            throw .noSuch("invoice line item", lineId, param: "line_item_id")
        }
        try apply(context.params, to: &invoice.lines[index], state: &state, param: nil)
        invoice.recompute()
        state.invoices[invoice.id] = invoice
        return invoice.lines[index].json(invoice: invoice.id, livemode: state.livemode)
    }

    static func updateLines(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var invoice = try editableInvoice(state, context.argument(0))
        for (position, lineParams) in (params.list("lines") ?? []).enumerated() {
            let lineId = lineParams.string("id") ?? ""
            guard let index = invoice.lines.firstIndex(where: { $0.id == lineId }) else {
                throw .noSuch("invoice line item", lineId, param: "lines[\(position)][id]")
            }
            try apply(lineParams, to: &invoice.lines[index], state: &state, param: "lines[\(position)]")
        }
        invoice.metadata = merged(invoice.metadata, with: params["invoice_metadata"])
        invoice.recompute()
        state.invoices[invoice.id] = invoice
        return state.invoiceJSON(invoice)
    }

    /// Adds lines to a draft, all or none: each a new invoice item of the invoice's customer and
    /// currency (or an unassigned item named by `invoice_item`), with its amount, description,
    /// period, metadata and `tax_amounts`; the totals are recomputed and the invoice answered.
    static func addLines(_ state: inout AccountState, _ context: RequestContext) throws(APIError) -> JSON {
        let params = context.params
        var invoice = try editableInvoice(state, context.argument(0))
        let requested = params.list("lines") ?? []
        guard !requested.isEmpty else { throw .missing("lines") }
        guard invoice.lines.count + requested.count <= maximumLines else {
            throw .state("An invoice can have at most \(maximumLines) line items; \(invoice.id) has \(invoice.lines.count) and \(requested.count) were added.",
                         param: "lines")
        }
        // Every line is checked before any is added, so a line that fails leaves nothing behind.
        var claimed = Set<String>()
        for (position, lineParams) in requested.enumerated() {
            let param = "lines[\(position)]"
            if let itemId = lineParams.text("invoice_item") {
                guard let found = state.invoiceItems[itemId] else { throw .noSuch("invoice item", itemId, param: "\(param)[invoice_item]") }
                guard found.invoice == nil, found.customer == invoice.customer, found.currency == invoice.currency,
                      claimed.insert(itemId).inserted else {
                    throw .invalidRequest("Invoice item \(itemId) is already on an invoice or belongs to another customer or currency.",
                                          param: "\(param)[invoice_item]")
                }
            } else if lineParams.int("amount") == nil && lineParams.nested("price_data")?.int("unit_amount") == nil {
                throw .missing("\(param)[amount]")
            }
            for (index, tax) in (lineParams.list("tax_amounts") ?? []).enumerated() {
                guard let percentage = tax.nested("tax_rate_data")?.string("percentage"), Percentage(percentage) == nil else { continue }
                throw .invalidRequest("Invalid percentage: must be a decimal between 0 and 100",
                                      param: "\(param)[tax_amounts][\(index)][tax_rate_data][percentage]")
            }
        }
        var added: [InvoiceItem] = []
        for (position, lineParams) in requested.enumerated() {
            var item: InvoiceItem
            if let itemId = lineParams.text("invoice_item"), let found = state.invoiceItems[itemId] {
                item = found
                item.invoice = invoice.id
            } else {
                let quantity = lineParams.int("quantity") ?? 1
                let amount = lineParams.int("amount") ?? (lineParams.nested("price_data")?.int("unit_amount") ?? 0) * quantity
                let period = lineParams.nested("period")
                item = InvoiceItem(id: Identifiers.make("ii_", 24), created: context.now, customer: invoice.customer, invoice: invoice.id,
                                   amount: amount, currency: invoice.currency, description: lineParams.text("description"),
                                   periodStart: period?.int("start") ?? context.now, periodEnd: period?.int("end") ?? context.now,
                                   quantity: quantity, metadata: merged([:], with: lineParams["metadata"]),
                                   discountable: lineParams.bool("discountable") ?? true)
            }
            state.invoiceItems[item.id] = item
            var line = line(for: item)
            try apply(lineParams, to: &line, state: &state, param: "lines[\(position)]")
            invoice.lines.append(line)
            added.append(item)
        }
        invoice.metadata = merged(invoice.metadata, with: params["invoice_metadata"])
        invoice.recompute()
        state.invoices[invoice.id] = invoice
        for item in added { state.emit("invoiceitem.created", item.json(livemode: state.livemode), context: context) }
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.updated", json, context: context)
        return json
    }

    /// A draft invoice, or the error Stripe gives for changing lines of any other.
    static func editableInvoice(_ state: AccountState, _ id: String) throws(APIError) -> Invoice {
        let invoice = try state.invoice(id)
        guard invoice.status == .draft else {
            throw .state("You can only modify lines of a draft invoice; \(invoice.id) is \(invoice.status.rawValue).",
                         code: "invoice_not_editable")
        }
        return invoice
    }

    /// Applies a line update (amount, description, metadata, period, quantity, tax_amounts).
    /// Amount, description and period follow onto the invoice item behind the line.
    private static func apply(_ params: Params, to line: inout InvoiceLine, state: inout AccountState,
                              param: String?) throws(APIError) {
        func name(_ field: String) -> String { param.map { "\($0)[\(field)]" } ?? field }
        if let amount = params.int("amount") { line.amount = amount }
        if let description = params.string("description") { line.description = description.isEmpty ? nil : description }
        if let quantity = params.int("quantity") { line.quantity = quantity }
        if let discountable = params.bool("discountable") { line.discountable = discountable }
        if let period = params.nested("period"), let start = period.int("start"), let end = period.int("end") {
            line.periodStart = start
            line.periodEnd = end
        }
        line.metadata = merged(line.metadata, with: params["metadata"])
        if let taxes = params.list("tax_amounts") {
            var result: [LineTax] = []
            for (index, tax) in taxes.enumerated() {
                guard let data = tax.nested("tax_rate_data"), let amount = tax.int("amount"),
                      let taxable = tax.int("taxable_amount") else { continue }
                let percentage = data.string("percentage") ?? "0"
                guard Percentage(percentage) != nil else {
                    throw .invalidRequest("Invalid percentage: must be a decimal between 0 and 100", param: name("tax_amounts") + "[\(index)][tax_rate_data][percentage]")
                }
                let rate = taxRate(TaxRate(id: "", displayName: data.string("display_name") ?? "", percentage: percentage,
                                           inclusive: data.bool("inclusive") ?? false, country: data.text("country"),
                                           state: data.text("state"), jurisdiction: data.text("jurisdiction"),
                                           taxType: data.text("tax_type"), description: data.text("description")),
                                   state: &state)
                result.append(LineTax(amount: amount, taxRate: rate.id, inclusive: rate.inclusive, taxableAmount: taxable,
                                      taxabilityReason: tax.string("taxability_reason") ?? "standard_rated"))
            }
            line.taxes = result
        }
        if var item = state.invoiceItems[line.invoiceItem] {
            item.amount = line.amount
            item.description = line.description
            item.periodStart = line.periodStart
            item.periodEnd = line.periodEnd
            item.quantity = line.quantity
            state.invoiceItems[item.id] = item
        }
    }

    /// The account's tax rate with the same data, or a new one.
    private static func taxRate(_ data: TaxRate, state: inout AccountState) -> TaxRate {
        if let existing = state.taxRates.first(where: { $0.sameData(as: data) }) { return existing }
        var rate = data
        rate.id = Identifiers.make("txr_", 24)
        state.taxRates.append(rate)
        return rate
    }

    static func line(for item: InvoiceItem) -> InvoiceLine {
        InvoiceLine(id: Identifiers.make("il_", 24), invoiceItem: item.id, amount: item.amount, currency: item.currency,
                    description: item.description, periodStart: item.periodStart, periodEnd: item.periodEnd,
                    quantity: item.quantity, metadata: item.metadata, discountable: item.discountable)
    }

    /// The customer fields an invoice copies, until it is finalized.
    static func snapshot(_ customer: Customer, into invoice: inout Invoice) {
        invoice.customerEmail = customer.email
        invoice.customerName = customer.name
        invoice.customerPhone = customer.phone
        invoice.customerAddress = customer.address
        invoice.customerTaxExempt = customer.taxExempt
    }

    static func markPaid(_ invoice: inout Invoice, state: inout AccountState, context: RequestContext, charged: Bool) {
        invoice.amountPaid += invoice.amountRemaining
        invoice.amountRemaining = 0
        invoice.status = .paid
        invoice.paidAt = context.now
        invoice.nextPaymentAttempt = nil
        state.invoices[invoice.id] = invoice
        state.customers[invoice.customer]?.delinquent = false
        let json = state.invoiceJSON(invoice)
        state.emit("invoice.paid", json, context: context)
        if charged { state.emit("invoice.payment_succeeded", json, context: context) }
    }

    /// One payment attempt on an open invoice with the customer's default payment method (or
    /// the one `pay` names). A failure is recorded on the invoice and returned as the error a
    /// `pay` call answers.
    static func charge(_ invoice: inout Invoice, state: inout AccountState, context: RequestContext,
                       paymentMethod: String?) -> APIError? {
        guard invoice.amountRemaining > 0 else {
            markPaid(&invoice, state: &state, context: context, charged: false)
            return nil
        }
        let customer = state.customers[invoice.customer]
        let method = (paymentMethod ?? customer?.defaultPaymentMethod).flatMap { state.paymentMethods[$0] }
        invoice.attemptCount += 1
        invoice.attempted = true
        let outcome = method?.card.outcome
        switch outcome {
        case .succeeds?:
            markPaid(&invoice, state: &state, context: context, charged: true)
            return nil
        case let .declined(declineCode, message)?:
            recordFailure(&invoice, state: &state, context: context, type: "invoice.payment_failed")
            return APIError(status: 402, type: "card_error", code: "card_declined", message: message, declineCode: declineCode)
        case .requiresAction?:
            recordFailure(&invoice, state: &state, context: context, type: "invoice.payment_action_required")
            return APIError(status: 402, type: "card_error", code: "invoice_payment_intent_requires_action",
                            message: "This payment requires additional user action before it can be completed successfully. Payment can be completed using the PaymentIntent associated with the invoice.")
        case nil:
            recordFailure(&invoice, state: &state, context: context, type: "invoice.payment_failed")
            return .state("This customer has no attached payment source or default payment method. Please consider adding a default payment method.")
        }
    }

    /// A payment that waits for the customer's authentication is not retried automatically: it
    /// has no next attempt until the customer confirms it on the hosted invoice page.
    static func recordFailure(_ invoice: inout Invoice, state: inout AccountState, context: RequestContext, type: String) {
        let waitsForCustomer = type == "invoice.payment_action_required"
        invoice.nextPaymentAttempt = invoice.autoAdvance && !waitsForCustomer ? context.now + retryInterval : nil
        state.invoices[invoice.id] = invoice
        state.customers[invoice.customer]?.delinquent = true
        state.emit(type, state.invoiceJSON(invoice), context: context)
    }
}
