import Foundation
import Testing

/// Object shapes against Stripe's example objects, paging and error bodies, over HTTP to the
/// built simulator.
@Suite struct ShapeAndErrorTests {
    /// Fields the simulator answers that Stripe's API description has and its example object
    /// lacks.
    static let extraFields: [String: Set<String>] = [
        "invoice": ["amount_paid_off_stripe"],
        "webhook_endpoint": ["secret"],
    ]

    private func expectShape(_ reply: Reply, like fixture: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(reply.status == 200, "\(reply)", sourceLocation: sourceLocation)
        let expected = try fixtureKeys(fixture)
        let actual = Set(reply.json.keys)
        #expect(expected.subtracting(actual).isEmpty, "missing in \(fixture): \(expected.subtracting(actual).sorted())",
                sourceLocation: sourceLocation)
        let extra = actual.subtracting(expected).subtracting(Self.extraFields[fixture] ?? [])
        #expect(extra.isEmpty, "not in \(fixture): \(extra.sorted())", sourceLocation: sourceLocation)
        #expect(reply.json["object"] as? String == (try fixtureObject(fixture))["object"] as? String,
                sourceLocation: sourceLocation)
    }

    @Test func objectsHaveStripesFields() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        try expectShape(try await client.get("/v1/account"), like: "account")
        let customer = try await client.customer("payment_method=pm_card_visa")
        try expectShape(try await client.get("/v1/customers/\(customer)"), like: "customer")

        let invoiceId = try await client.draftInvoice(customer: customer, amounts: [1000])
        let invoice = try await client.get("/v1/invoices/\(invoiceId)")
        try expectShape(invoice, like: "invoice")
        let lines = try #require(invoice.json["lines"] as? [String: Any])
        #expect(lines["object"] as? String == "list")
        #expect(lines["url"] as? String == "/v1/invoices/\(invoiceId)/lines")
        #expect(lines["has_more"] as? Bool == false)
        let line = try #require((lines["data"] as? [[String: Any]])?.first)
        #expect(Set(line.keys) == (try fixtureKeys("line_item")))
        #expect((line["id"] as? String)?.hasPrefix("il_") == true)

        let items = try await client.get("/v1/invoiceitems?invoice=\(invoiceId)")
        try expectShape(try await client.get("/v1/invoiceitems/\(try #require(items.data.first?["id"] as? String))"),
                        like: "invoiceitem")

        let methods = try await client.get("/v1/customers/\(customer)/payment_methods")
        let method = try #require(methods.data.first?["id"] as? String)
        try expectShape(try await client.get("/v1/payment_methods/\(method)"), like: "payment_method")

        let endpoint = try await client.post("/v1/webhook_endpoints", "url=https://example.com/hook&enabled_events[]=*")
        try expectShape(endpoint, like: "webhook_endpoint")
        #expect((endpoint.json["secret"] as? String)?.hasPrefix("whsec_") == true)
        let again = try await client.get("/v1/webhook_endpoints/\(endpoint.id)")
        #expect(again.json["secret"] == nil, "the secret is shown once, on create")

        let events = try await client.get("/v1/events?limit=1")
        try expectShape(try await client.get("/v1/events/\(try #require(events.data.first?["id"] as? String))"), like: "event")

        let session = try await client.post("/v1/checkout/sessions",
                                            "mode=setup&customer=\(customer)&currency=usd&success_url=https://example.com/ok&cancel_url=https://example.com/no")
        try expectShape(session, like: "checkout_session")
        #expect(session.id.hasPrefix("cs_test_"))
        try expectShape(try await client.post("/v1/billing_portal/sessions", "customer=\(customer)&return_url=https://example.com"),
                        like: "billing_portal_session")

        _ = try await client.control("POST", "/_sim/tax_rates", json: #"{"rates":[{"country":"US","percentage":"5"}]}"#)
        let calculation = try await client.post("/v1/tax/calculations",
                                                "currency=usd&customer_details[address][country]=US&customer_details[address_source]=billing&line_items[0][amount]=1000&line_items[0][reference]=l1")
        try expectShape(calculation, like: "tax_calculation")
        let calculationLines = try await client.get("/v1/tax/calculations/\(calculation.id)/line_items")
        #expect(Set(try #require(calculationLines.data.first).keys) == (try fixtureKeys("tax_calculation_line_item")))
        let transaction = try await client.post("/v1/tax/transactions/create_from_calculation",
                                                "calculation=\(calculation.id)&reference=inv_1")
        try expectShape(transaction, like: "tax_transaction")
    }

    @Test func idsCarryStripesPrefixes() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let account = try await client.get("/v1/account")
        #expect(account.id == "acct_1TbSimulator0000")
        #expect(account.header("Request-Id")?.hasPrefix("req_") == true)
        #expect(sim.firstLines.dropFirst().first?.contains("acct_1TbSimulator0000") == true)
        let customer = try await client.customer()
        #expect(customer.hasPrefix("cus_"))
        let invoice = try await client.draftInvoice(customer: customer, amounts: [500])
        #expect(invoice.hasPrefix("in_"))
        let item = try await client.get("/v1/invoiceitems?invoice=\(invoice)")
        #expect((item.data.first?["id"] as? String)?.hasPrefix("ii_") == true)
        let portal = try await client.post("/v1/billing_portal/sessions", "customer=\(customer)")
        #expect(portal.id.hasPrefix("bps_"))
        let endpoint = try await client.post("/v1/webhook_endpoints", "url=https://example.com/h&enabled_events[0]=invoice.paid")
        #expect(endpoint.id.hasPrefix("we_"))
        let events = try await client.get("/v1/events")
        #expect(events.data.allSatisfy { ($0["id"] as? String)?.hasPrefix("evt_") == true })
    }

    @Test func customersPageNewestFirstWithStartingAfterAndEndingBefore() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        var created: [String] = []
        for index in 0..<5 {
            created.append(try await client.post("/v1/customers", "email=page%40example.com&name=C\(index)").id)
        }
        _ = try await client.post("/v1/customers", "email=other%40example.com")
        var seen: [String] = []
        var after: String?
        var pages = 0
        repeat {
            let reply = try await client.get("/v1/customers?email=page%40example.com&limit=2" + (after.map { "&starting_after=\($0)" } ?? ""))
            #expect(reply.status == 200, "\(reply)")
            seen += reply.data.compactMap { $0["id"] as? String }
            after = reply.json["has_more"] as? Bool == true ? seen.last : nil
            pages += 1
        } while after != nil && pages < 10
        #expect(seen == created.reversed(), "every customer once, newest first")
        #expect(pages == 3)

        let before = try await client.get("/v1/customers?email=page%40example.com&limit=2&ending_before=\(created[1])")
        #expect(before.data.compactMap { $0["id"] as? String } == [created[3], created[2]])
        #expect(before.json["has_more"] as? Bool == true)

        let bad = try await client.get("/v1/customers?limit=101")
        #expect(bad.status == 400)
        #expect(bad.error["param"] as? String == "limit")
        let missing = try await client.get("/v1/customers?starting_after=cus_nothing")
        #expect(missing.status == 404)
        #expect(missing.error["code"] as? String == "resource_missing")
    }

    @Test func errorBodiesAreStripes() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let unknown = try await client.post("/v1/customers", "email=a%40b.c&colour=red")
        #expect(unknown.status == 400)
        #expect(unknown.error["type"] as? String == "invalid_request_error")
        #expect(unknown.error["code"] as? String == "parameter_unknown")
        #expect(unknown.error["param"] as? String == "colour")
        #expect(unknown.error["message"] as? String == "Received unknown parameter: colour")
        #expect(unknown.error["doc_url"] as? String == "https://stripe.com/docs/error-codes/parameter-unknown")
        #expect((unknown.error["request_log_url"] as? String)?.hasSuffix(unknown.header("Request-Id") ?? "-") == true)

        let nested = try await client.post("/v1/customers", "address[planet]=Mars")
        #expect(nested.error["param"] as? String == "address[planet]")

        let missing = try await client.post("/v1/invoices", "")
        #expect(missing.status == 400)
        #expect(missing.error["code"] as? String == "parameter_missing")
        #expect(missing.error["param"] as? String == "customer")

        let integer = try await client.post("/v1/invoiceitems", "customer=cus_x&amount=ten")
        #expect(integer.error["code"] as? String == "parameter_invalid_integer")

        let absent = try await client.get("/v1/invoices/in_missing")
        #expect(absent.status == 404)
        #expect(absent.error["code"] as? String == "resource_missing")
        #expect(absent.error["message"] as? String == "No such invoice: 'in_missing'")

        let route = try await client.get("/v1/charges")
        #expect(route.status == 404)
        #expect((route.error["message"] as? String)?.hasPrefix("Unrecognized request URL (GET: /v1/charges)") == true)
        #expect(route.error["code"] == nil)

        let setupOnly = try await client.post("/v1/checkout/sessions", "mode=setup&success_url=https://example.com")
        #expect(setupOnly.error["code"] as? String == "parameter_missing")
        #expect(setupOnly.error["param"] as? String == "currency")
    }

    @Test func keysLiveTestAndUnknown() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let noKey = try await client.send("GET", "/v1/account", key: "")
        #expect(noKey.status == 401)
        let live = try await client.get("/v1/account", key: "sk_live_51Habcdefgh9876")
        #expect(live.status == 401)
        #expect(live.error["message"] as? String == "Invalid API Key provided: sk_live_***********9876")
        #expect(!live.description.contains("abcdefgh"), "the key is masked")
        let unregistered = try await client.get("/v1/account", key: "rk_test_unregistered1234")
        #expect(unregistered.status == 401)
        let nonsense = try await client.get("/v1/account", key: "hello")
        #expect(nonsense.status == 401)

        let liveSim = try SimulatorProcess("--live")
        let liveClient = Client(base: liveSim.base)
        #expect(try await liveClient.get("/v1/account", key: "sk_live_51Habcdefgh9876").status == 200)
        #expect(try await liveClient.get("/v1/account", key: "sk_live_51Habcdefgh9876").json["id"] as? String == "acct_1TbSimulator0000")
        #expect(try await liveClient.get("/v1/account").status == 401, "a test key is refused in live mode")
        let customer = try await liveClient.post("/v1/customers", "email=x%40y.z", key: "sk_live_51Habcdefgh9876")
        #expect(customer.json["livemode"] as? Bool == true)
    }

    @Test func restrictedKeysAnswer403NamingThePermission() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let key = "rk_test_51Restricted0000abcd"
        let registered = try await client.control("POST", "/_sim/keys",
                                                  json: #"{"key":"\#(key)","permissions":["rak_invoice_write","rak_account_read"]}"#)
        #expect(registered.status == 200, "\(registered)")
        #expect(!registered.description.contains("Restricted0000"), "the key is masked in the answer")

        #expect(try await client.get("/v1/account", key: key).status == 200)
        #expect(try await client.get("/v1/invoices", key: key).status == 200, "write implies read")
        let denied = try await client.post("/v1/customers", "email=a%40b.c", key: key)
        #expect(denied.status == 403)
        #expect(denied.error["type"] as? String == "invalid_request_error")
        #expect(denied.error["code"] == nil)
        #expect(denied.error["message"] as? String
            == "The provided key 'rk_test_****************abcd' does not have the required permissions for this endpoint on account 'acct_1TbSimulator0000'. Having the 'rak_customer_write' permission would allow this request to continue.")
        let read = try await client.get("/v1/customers", key: key)
        #expect((read.error["message"] as? String)?.contains("'rak_customer_read'") == true)
        let events = try await client.get("/v1/events", key: key)
        #expect((events.error["message"] as? String)?.contains("'rak_event_read'") == true)
        let hooks = try await client.post("/v1/webhook_endpoints", "url=https://e.com/h&enabled_events[]=*", key: key)
        #expect((hooks.error["message"] as? String)?.contains("'rak_webhook_endpoints_write'") == true)
        let tax = try await client.post("/v1/tax/calculations", "currency=usd&line_items[0][amount]=1", key: key)
        #expect((tax.error["message"] as? String)?.contains("'rak_tax_calculations_write'") == true)
        let checkout = try await client.post("/v1/checkout/sessions", "mode=setup&currency=usd&success_url=https://e.com", key: key)
        #expect((checkout.error["message"] as? String)?.contains("'rak_checkout_session_write'") == true)
        let portal = try await client.post("/v1/billing_portal/sessions", "customer=cus_x", key: key)
        #expect((portal.error["message"] as? String)?.contains("'rak_billing_portal_session_write'") == true)
        let methods = try await client.get("/v1/payment_methods/pm_x", key: key)
        #expect((methods.error["message"] as? String)?.contains("'rak_payment_method_read'") == true)

        let unknownPermission = try await client.control("POST", "/_sim/keys", json: #"{"key":"rk_test_other","permissions":["rak_everything"]}"#)
        #expect(unknownPermission.status == 400)
    }

    @Test func aKeyOfAnotherAccountSeesOnlyItsOwnObjects() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let other = "sk_test_otheraccount9999"
        _ = try await client.control("POST", "/_sim/keys", json: #"{"key":"\#(other)","account":"acct_1OtherAccount00"}"#)
        #expect(try await client.get("/v1/account", key: other).id == "acct_1OtherAccount00")
        let mine = try await client.customer()
        #expect(try await client.get("/v1/customers/\(mine)", key: other).status == 404)
        let theirs = try await client.post("/v1/customers", "email=t%40o.c", key: other)
        #expect(try await client.get("/v1/customers/\(theirs.id)", key: other).status == 200)
        #expect(try await client.get("/v1/customers").data.count == 1)
    }
}
