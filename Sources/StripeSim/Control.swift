/// Control routes under `/_sim/` (no key needed): reset, keys, faults, forced payment outcomes,
/// Checkout completion and expiry, webhook holding and redelivery, the tax rate table, the
/// request and delivery logs, the clock, direct invoice edits, and the hosted pages the
/// simulator's links point at. Bodies are JSON or form encoded.
extension Simulator {
    func control(_ request: HTTPRequest) -> HTTPResponse {
        let requestId = Identifiers.make("req_", 14)
        do {
            let params = try controlParams(request)
            let segments = request.path.split(separator: "/").map(String.init).dropFirst()
            /// The `*` parts of `pattern` ("POST invoices/*/pay") when the request fits it.
            func match(_ pattern: String) -> [String]? {
                let parts = pattern.split(separator: " ", maxSplits: 1)
                let expected = parts[1].split(separator: "/")
                guard parts[0] == request.method, expected.count == segments.count else { return nil }
                var wildcards: [String] = []
                for (part, segment) in zip(expected, segments) {
                    if part == "*" { wildcards.append(segment) } else if part != segment { return nil }
                }
                return wildcards
            }
            let body: JSON
            if match("POST reset") != nil {
                state = SimState(configuration: configuration, now: Int64(clock.wall()))
                deliverer.reset()
                body = ["reset": true]
            } else if match("POST keys") != nil {
                body = try registerKey(params)
            } else if match("POST faults") != nil {
                body = try addFault(params)
            } else if match("GET faults") != nil {
                body = ["data": .array(state.faults.map { ["kind": .string($0.kind.name), "remaining": .int(Int64($0.remaining)),
                                                          "method": .nullable($0.method), "path": .nullable($0.pathPrefix)] })]
            } else if match("POST tax_rates") != nil {
                body = try setTaxRates(params)
            } else if match("GET tax_rates") != nil {
                body = ["data": .array(state.taxRules.map(\.json))]
            } else if match("GET requests") != nil {
                let method = params.text("method"), path = params.text("path")
                let entries = state.requestLog.filter {
                    (method == nil || $0.method == method) && (path == nil || $0.path.hasPrefix(path!))
                }
                body = ["data": .array(entries.map(\.json))]
            } else if match("GET deliveries") != nil {
                body = ["data": .array(deliverer.deliveries.map(\.json))]
            } else if match("POST clock") != nil {
                guard let seconds = params.int("advance"), seconds >= 0 else {
                    throw APIError.invalidRequest("Give `advance`: a whole number of seconds, 0 or more.", param: "advance")
                }
                state.clockOffset += seconds
                body = ["now": .int(currentTime)]
            } else if match("POST invoices") != nil {
                body = try plantInvoice(params)
            } else if let id = match("POST invoices/*")?.first {
                body = try editInvoice(id, params)
            } else if let id = match("POST invoices/*/pay")?.first {
                body = try forcePayment(id, params, succeed: true)
            } else if let id = match("POST invoices/*/fail")?.first {
                body = try forcePayment(id, params, succeed: false)
            } else if let id = match("POST checkout/sessions/*/complete")?.first {
                body = try completeCheckout(id, params)
            } else if let id = match("POST checkout/sessions/*/expire")?.first {
                body = try expireCheckout(id)
            } else if match("POST webhooks/hold") != nil {
                body = ["holding": true, "held": .int(Int64(deliverer.hold()))]
            } else if match("GET webhooks/held") != nil {
                body = ["data": .array(deliverer.heldDeliveries.map(\.json))]
            } else if match("POST webhooks/release") != nil {
                body = try releaseHeld(params)
            } else if match("POST webhooks/discard") != nil {
                body = ["discarded": .int(Int64(deliverer.discard()))]
            } else if let id = match("POST events/*/deliver")?.first {
                body = try redeliver(id, params)
            } else if let found = match("GET pages/*/*") ?? match("GET pages/*/*/*") {
                return page(kind: found[0], id: found[1])
            } else {
                throw APIError.unrecognizedURL(request.method, request.path)
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", "application/json"), ("Request-Id", requestId)],
                                body: body.bytes)
        } catch {
            let problem = error as? APIError ?? .invalidRequest((error as? FormError)?.message ?? "\(error)")
            return HTTPResponse(status: problem.status, headers: [("Content-Type", "application/json"), ("Request-Id", requestId)],
                                body: problem.body(requestId: requestId).bytes)
        }
    }

    private func controlParams(_ request: HTTPRequest) throws -> Params {
        var values = try FormDecoder.decode(request.query)
        if request.header("content-type")?.lowercased().hasPrefix("application/json") == true {
            if !request.body.isEmpty, case let .object(pairs) = try JSON.parse(request.body) {
                for (key, value) in pairs { values[key] = FormValue(value) }
            }
        } else if !request.body.isEmpty {
            values.merge(try FormDecoder.decode(String(decoding: request.body, as: UTF8.self))) { $1 }
        }
        return Params(values: values)
    }

    /// `key`, `account` (default: the default account), `permissions` (rak names; a restricted
    /// key needs at least one).
    private func registerKey(_ params: Params) throws(APIError) -> JSON {
        guard let raw = params.text("key") else { throw .missing("key") }
        guard let key = APIKey(raw) else {
            throw .invalidRequest("A key starts with sk_test_, sk_live_, rk_test_ or rk_live_.", param: "key")
        }
        let account = params.text("account") ?? configuration.defaultAccount
        guard account.hasPrefix("acct_"), account.count > 5 else {
            throw .invalidRequest("An account id starts with acct_.", param: "account")
        }
        var permissions: Set<Permission>?
        if key.kind == .restricted {
            let names = params.strings("permissions") ?? []
            var granted = Set<Permission>()
            for (index, name) in names.enumerated() {
                guard let permission = Permission(rakName: name) else {
                    throw .invalidRequest("Unknown permission '\(name)': use rak_<resource>_read or rak_<resource>_write, e.g. rak_invoice_write.",
                                          param: "permissions[\(index)]")
                }
                granted.insert(permission)
            }
            permissions = granted
        }
        state.keys[raw] = Credential(key: key, account: account, permissions: permissions)
        if state.accounts[account] == nil {
            state.accounts[account] = SimState.newAccount(account, live: configuration.live, now: currentTime)
        }
        return ["key": .string(key.masked), "account": .string(account),
                "permissions": permissions.map { .array($0.map(\.rakName).sorted().map { .string($0) }) } ?? .null]
    }

    /// `kind` (500, 429, drop, delay), `count` (default 1), `method`, `path` (a prefix),
    /// `delay_ms`, `after` (500 only: do and store the work first).
    private func addFault(_ params: Params) throws(APIError) -> JSON {
        let kind: Fault.Kind
        switch params.text("kind") {
        case "500": kind = .serverError(after: params.bool("after") ?? false)
        case "429": kind = .rateLimit
        case "drop": kind = .drop
        case "delay":
            guard let milliseconds = params.int("delay_ms"), milliseconds >= 0 else { throw .missing("delay_ms") }
            kind = .delay(milliseconds: Int(milliseconds))
        default:
            throw .invalidRequest("Give `kind`: 500, 429, drop or delay.", param: "kind")
        }
        let count = Int(params.int("count") ?? 1)
        guard count > 0 else { throw .invalidRequest("`count` is 1 or more.", param: "count") }
        state.faults.append(Fault(kind: kind, remaining: count, method: params.text("method"), pathPrefix: params.text("path")))
        return ["kind": .string(kind.name), "remaining": .int(Int64(count))]
    }

    /// `rates[i][country]`, `[state]`, `[percentage]` ("19", "8.875"), `[display_name]`,
    /// `[tax_type]`: replaces the table.
    private func setTaxRates(_ params: Params) throws(APIError) -> JSON {
        var rules: [TaxRule] = []
        for (index, rate) in (params.list("rates") ?? []).enumerated() {
            guard let country = rate.text("country"), country.count == 2 else {
                throw .invalidRequest("Give each rate a two-letter `country`.", param: "rates[\(index)][country]")
            }
            guard let text = rate.text("percentage"), let percentage = Percentage(text) else {
                throw .invalidRequest("Give each rate a `percentage` between 0 and 100, as a decimal string (\"19\", \"8.875\").",
                                      param: "rates[\(index)][percentage]")
            }
            rules.append(TaxRule(country: country.uppercased(), state: rate.text("state"), percentage: percentage,
                                 displayName: rate.text("display_name") ?? "Tax", taxType: rate.text("tax_type") ?? "vat"))
        }
        state.taxRules = rules
        return ["data": .array(rules.map(\.json))]
    }

    /// The invoice with `id` in whichever account holds it.
    private func locate(_ id: String) throws(APIError) -> (account: String, invoice: Invoice) {
        for (account, accountState) in state.accounts {
            if let invoice = accountState.invoices[id] { return (account, invoice) }
        }
        throw .noSuch("invoice", id)
    }

    /// Runs `body` on an account's state and delivers the events it made.
    private func changing<T>(_ account: String, _ body: (inout AccountState, RequestContext) throws(APIError) -> T) throws(APIError) -> T {
        var accountState = state.takeAccount(account, configuration: configuration, now: currentTime)
        let context = RequestContext(requestId: Identifiers.make("req_", 14), idempotencyKey: nil, now: currentTime,
                                     params: Params(values: [:]), arguments: [], taxRules: state.taxRules, publicBase: base)
        defer {
            deliverEvents(of: &accountState)
            state.accounts[account] = accountState
        }
        return try body(&accountState, context)
    }

    /// Marks an open invoice paid as if its charge succeeded, or records a failed attempt with
    /// `decline_code` (default generic_decline; `authentication_required` asks for action).
    private func forcePayment(_ id: String, _ params: Params, succeed: Bool) throws(APIError) -> JSON {
        let (account, _) = try locate(id)
        return try changing(account) { (accountState: inout AccountState, context: RequestContext) throws(APIError) -> JSON in
            var invoice = try accountState.invoice(id)
            guard invoice.status == .open || invoice.status == .uncollectible else {
                throw .state("Only an open or uncollectible invoice can be paid or fail; \(id) is \(invoice.status.rawValue).")
            }
            invoice.attemptCount += 1
            invoice.attempted = true
            if succeed {
                InvoiceAPI.markPaid(&invoice, state: &accountState, context: context, charged: true)
            } else {
                let code = params.text("decline_code") ?? "generic_decline"
                InvoiceAPI.recordFailure(&invoice, state: &accountState, context: context,
                                         type: code == "authentication_required" ? "invoice.payment_action_required" : "invoice.payment_failed")
            }
            accountState.invoices[id] = invoice
            return accountState.invoiceJSON(invoice)
        }
    }

    /// Completes an open setup-mode session: attaches `payment_method` (a test card token,
    /// default pm_card_visa) to its customer and emits checkout.session.completed.
    private func completeCheckout(_ id: String, _ params: Params) throws(APIError) -> JSON {
        guard let account = state.accounts.first(where: { $0.value.checkoutSessions[id] != nil })?.key else {
            throw .noSuch("checkout.session", id)
        }
        return try changing(account) { (accountState: inout AccountState, context: RequestContext) throws(APIError) -> JSON in
            var session = accountState.checkoutSessions[id]!
            guard session.status == "open" else { throw .state("Checkout Session \(id) is \(session.status), not open.") }
            let customerId: String
            if let existing = session.customer {
                customerId = existing
            } else {
                let customer = Customer(id: Identifiers.make("cus_", 14), created: context.now, invoicePrefix: Identifiers.invoicePrefix())
                accountState.customers[customer.id] = customer
                accountState.emit("customer.created", customer.json(livemode: accountState.livemode), context: context)
                customerId = customer.id
                session.customer = customerId
            }
            _ = try CustomerAPI.attach(params.text("payment_method") ?? "pm_card_visa", to: customerId, state: &accountState,
                                       context: context, param: "payment_method")
            session.status = "complete"
            session.setupIntent = Identifiers.make("seti_", 24)
            session.customerEmail = accountState.customers[customerId]?.email
            accountState.checkoutSessions[id] = session
            let json = session.json(livemode: accountState.livemode)
            accountState.emit("checkout.session.completed", json, context: context)
            return json
        }
    }

    /// Expires an open session, as Stripe's expire call or its 24 hours running out would:
    /// `status` becomes expired, `url` null, and checkout.session.expired is emitted.
    private func expireCheckout(_ id: String) throws(APIError) -> JSON {
        guard let account = state.accounts.first(where: { $0.value.checkoutSessions[id] != nil })?.key else {
            throw .noSuch("checkout.session", id)
        }
        return try changing(account) { (accountState: inout AccountState, context: RequestContext) throws(APIError) -> JSON in
            var session = accountState.checkoutSessions[id]!
            guard session.status == "open" else {
                throw .state("Only an open Checkout Session can expire; \(id) is \(session.status).")
            }
            session.status = "expired"
            accountState.checkoutSessions[id] = session
            let json = session.json(livemode: accountState.livemode)
            accountState.emit("checkout.session.expired", json, context: context)
            return json
        }
    }

    /// `order` `created` (default) or `reverse`: sends every held delivery in that order and
    /// stops holding.
    private func releaseHeld(_ params: Params) throws(APIError) -> JSON {
        let order = params.text("order") ?? "created"
        guard order == "created" || order == "reverse" else {
            throw .invalidRequest("Give `order`: created or reverse.", param: "order")
        }
        let released = deliverer.release(reversed: order == "reverse")
        return ["released": .int(Int64(released)), "order": .string(order)]
    }

    /// Sends a stored event again, to the endpoints that want its type or only to `endpoint`
    /// (named, it gets the event whatever its `enabled_events`): `times` copies (1 to 10, default
    /// 1), the first after `delay_ms`, signed `signature_age` seconds in the past. Held
    /// deliveries do not hold these back.
    private func redeliver(_ id: String, _ params: Params) throws(APIError) -> JSON {
        guard let accountState = state.accounts.values.first(where: { $0.events[id] != nil }),
              let event = accountState.events[id] else {
            throw .noSuch("event", id)
        }
        let times = try wholeNumber(params, "times", default: 1, in: 1...10)
        let delay = try wholeNumber(params, "delay_ms", default: 0, in: 0...600_000)
        let age = try wholeNumber(params, "signature_age", default: 0, in: 0...31_536_000)
        let targets: [DeliveryTarget]
        if let endpointId = params.text("endpoint") {
            guard let endpoint = accountState.webhookEndpoints[endpointId] else {
                throw .noSuch("webhook endpoint", endpointId, param: "endpoint")
            }
            targets = [endpoint.target]
        } else {
            targets = accountState.webhookEndpoints.oldestFirst.filter { $0.wants(event.type) }.map(\.target)
        }
        let queued = deliverer.redeliver(event: event.json(livemode: accountState.livemode), eventId: event.id, type: event.type,
                                         to: targets, times: Int(times), delay: Double(delay) / 1000, signatureAge: age)
        return ["event": .string(id), "queued": .int(Int64(queued))]
    }

    /// A whole-number control parameter within `range`, or `fallback` when it is not given.
    private func wholeNumber(_ params: Params, _ name: String, default fallback: Int64,
                             in range: ClosedRange<Int64>) throws(APIError) -> Int64 {
        guard let text = params.text(name) else { return fallback }
        guard let value = Int64(text), range.contains(value) else {
            throw .invalidRequest("`\(name)` is a whole number from \(range.lowerBound) to \(range.upperBound).", param: name)
        }
        return value
    }

    /// An invoice Tollbooth did not make (an orphan): `customer`, `currency`, `amount` (one
    /// line), `status` (default open), `metadata`, `account`. No events.
    private func plantInvoice(_ params: Params) throws(APIError) -> JSON {
        let account = params.text("account") ?? configuration.defaultAccount
        guard let customerId = params.text("customer") else { throw .missing("customer") }
        return try changing(account) { (accountState: inout AccountState, context: RequestContext) throws(APIError) -> JSON in
            let customer = try accountState.customer(customerId)
            let currency = params.text("currency") ?? customer.currency ?? accountState.account.defaultCurrency
            var invoice = Invoice(id: Identifiers.make("in_", 24), created: context.now, customer: customer.id, currency: currency,
                                  autoAdvance: false, metadata: merged([:], with: params["metadata"]),
                                  customerTaxExempt: customer.taxExempt)
            if let amount = params.int("amount") {
                let item = InvoiceItem(id: Identifiers.make("ii_", 24), created: context.now, customer: customer.id, invoice: invoice.id,
                                       amount: amount, currency: currency, description: params.text("description"),
                                       periodStart: context.now, periodEnd: context.now)
                accountState.invoiceItems[item.id] = item
                invoice.lines.append(InvoiceAPI.line(for: item))
            }
            invoice.recompute()
            let status = params.text("status") ?? "open"
            guard let parsed = InvoiceStatus(rawValue: status) else {
                throw .invalidRequest("status is draft, open, paid, uncollectible or void.", param: "status")
            }
            invoice.status = parsed
            if parsed != .draft {
                invoice.finalizedAt = context.now
                invoice.number = "\(customer.invoicePrefix)-ORPHAN"
            }
            if parsed == .paid {
                invoice.amountPaid = invoice.amountDue
                invoice.amountRemaining = 0
                invoice.paidAt = context.now
            }
            accountState.invoices[invoice.id] = invoice
            return accountState.invoiceJSON(invoice)
        }
    }

    /// Overwrites stored fields of an invoice, whatever its state: amounts (`subtotal`, `total`,
    /// `amount_due`, `amount_paid`, `amount_remaining`, `starting_balance`, `ending_balance`,
    /// `attempt_count`), `status`, `currency`, `number`, `metadata` (merged), `delete_line` (a
    /// line or invoice item id, removed with its item; totals are not recomputed), and
    /// `fail_next_finalization` (a message the next finalize fails with).
    private func editInvoice(_ id: String, _ params: Params) throws(APIError) -> JSON {
        let (account, _) = try locate(id)
        return try changing(account) { (accountState: inout AccountState, context: RequestContext) throws(APIError) -> JSON in
            var invoice = try accountState.invoice(id)
            if let value = params.int("subtotal") { invoice.subtotal = value; invoice.subtotalExcludingTax = value }
            if let value = params.int("total") { invoice.total = value; invoice.totalExcludingTax = value }
            if let value = params.int("amount_due") { invoice.amountDue = value }
            if let value = params.int("amount_paid") { invoice.amountPaid = value }
            if let value = params.int("amount_remaining") { invoice.amountRemaining = value }
            if let value = params.int("starting_balance") { invoice.startingBalance = value }
            if let value = params.int("ending_balance") { invoice.endingBalance = value }
            if let value = params.int("attempt_count") { invoice.attemptCount = value }
            if let value = params.text("currency") { invoice.currency = value.lowercased() }
            if let value = params.text("number") { invoice.number = value }
            if let value = params.text("status") {
                guard let status = InvoiceStatus(rawValue: value) else {
                    throw .invalidRequest("status is draft, open, paid, uncollectible or void.", param: "status")
                }
                invoice.status = status
            }
            if let message = params.text("fail_next_finalization") { invoice.failNextFinalization = message }
            invoice.metadata = merged(invoice.metadata, with: params["metadata"])
            if let target = params.text("delete_line") {
                guard let line = invoice.lines.first(where: { $0.id == target || $0.invoiceItem == target }) else {
                    throw .noSuch("invoice line item", target, param: "delete_line")
                }
                invoice.lines.removeAll { $0.id == line.id }
                accountState.invoiceItems[line.invoiceItem] = nil
            }
            accountState.invoices[id] = invoice
            return accountState.invoiceJSON(invoice)
        }
    }

    /// A plain page for the links the simulator hands out (hosted invoice, its PDF, Checkout,
    /// portal), so a person following one sees what it stands for.
    private func page(kind: String, id: String) -> HTTPResponse {
        var lines = ["Stripe simulator: \(kind) \(id)"]
        for accountState in state.accounts.values {
            if let invoice = accountState.invoices[id] {
                lines.append("Invoice \(invoice.number ?? "(draft)") for \(invoice.customer): \(invoice.status.rawValue), total \(invoice.total) \(invoice.currency) (minor units), amount due \(invoice.amountDue)")
            }
            if let session = accountState.checkoutSessions[id] {
                lines.append("Checkout Session (setup) for \(session.customer ?? "a new customer"): \(session.status). Complete it with POST /_sim/checkout/sessions/\(id)/complete.")
                if let cancelURL = session.cancelURL { lines.append("Cancel: \(cancelURL)") }
            }
            if let session = accountState.portalSessions[id] {
                lines.append("Customer portal for \(session.customer).")
            }
        }
        return HTTPResponse(status: lines.count > 1 ? 200 : 404, headers: [("Content-Type", "text/plain; charset=utf-8")],
                            body: Array((lines.joined(separator: "\n") + "\n").utf8))
    }
}

extension TaxRule {
    var json: JSON {
        ["country": .string(country), "state": .nullable(state), "percentage": .string(percentage.text),
         "display_name": .string(displayName), "tax_type": .string(taxType)]
    }
}

extension FormValue {
    /// A JSON control body read as form parameters: numbers and booleans become their text.
    init(_ json: JSON) {
        switch json {
        case .null: self = .string("")
        case let .bool(value): self = .string(value ? "true" : "false")
        case let .int(value): self = .string(String(value))
        case let .string(value): self = .string(value)
        case let .array(items): self = .array(items.map(FormValue.init))
        case let .object(pairs): self = .object(Dictionary(pairs.map { ($0.0, FormValue($0.1)) }, uniquingKeysWith: { $1 }))
        }
    }
}
