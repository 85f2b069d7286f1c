import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import StripeSim

/// Idempotent replay, the rate limit, injected faults and signed webhook delivery.
@Suite struct ReliabilityTests {
    private func invoiceCount(_ client: Client) async throws -> Int {
        try await client.get("/v1/invoices?limit=100").data.count
    }

    @Test func idempotentReplayReturnsTheStoredAnswer() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let first = try await client.post("/v1/invoices", "customer=\(customer)&metadata[tollbooth_invoice]=i1", idempotencyKey: "inv-i1")
        #expect(first.status == 200)
        #expect(first.header("Idempotent-Replayed") == nil)
        let second = try await client.post("/v1/invoices", "customer=\(customer)&metadata[tollbooth_invoice]=i1", idempotencyKey: "inv-i1")
        #expect(second.status == 200)
        #expect(second.body == first.body)
        #expect(second.header("Idempotent-Replayed") == "true")
        #expect(second.header("Original-Request") == first.header("Request-Id"))
        #expect(try await invoiceCount(client) == 1, "no second invoice")

        let mismatch = try await client.post("/v1/invoices", "customer=\(customer)&metadata[tollbooth_invoice]=i2", idempotencyKey: "inv-i1")
        #expect(mismatch.status == 400)
        #expect(mismatch.error["type"] as? String == "idempotency_error")
        #expect((mismatch.error["message"] as? String)?.contains("'inv-i1'") == true)
        #expect(try await invoiceCount(client) == 1)

        // A stored error is replayed too.
        let declined = try await client.post("/v1/invoices/in_missing/finalize", "", idempotencyKey: "fin-1")
        let replayedError = try await client.post("/v1/invoices/in_missing/finalize", "", idempotencyKey: "fin-1")
        #expect(declined.status == 404)
        #expect(replayedError.status == 404)
        #expect(replayedError.header("Idempotent-Replayed") == "true")

        let tooLong = try await client.post("/v1/customers", "email=a%40b.c", idempotencyKey: String(repeating: "k", count: 256))
        #expect(tooLong.status == 400)
        #expect(try await client.post("/v1/customers", "email=a%40b.c", idempotencyKey: String(repeating: "k", count: 255)).status == 200)

        // Keys are scoped to the account: the same key on another account's key is a new request.
        _ = try await client.control("POST", "/_sim/keys", json: #"{"key":"sk_test_second000000","account":"acct_1Second000000"}"#)
        let otherCustomer = try await client.post("/v1/customers", "email=o%40b.c", key: "sk_test_second000000")
        let other = try await client.post("/v1/invoices", "customer=\(otherCustomer.id)&metadata[tollbooth_invoice]=i1",
                                          key: "sk_test_second000000", idempotencyKey: "inv-i1")
        #expect(other.status == 200)
        #expect(other.header("Idempotent-Replayed") == nil)

        let log = try await client.control("GET", "/_sim/requests?method=POST&path=/v1/invoices")
        let keyed = log.data.filter { $0["idempotency_key"] as? String == "inv-i1" }
        #expect(keyed.count == 4)
        #expect(keyed.filter { $0["replayed"] as? Bool == true }.count == 1)
    }

    @Test func overTheGlobalRateLimitIs429WithNoSideEffect() async throws {
        let sim = try SimulatorProcess("--limits", "sandbox", "--global-rps", "2")
        let client = Client(base: sim.base)
        var statuses: [Int] = []
        var limited: Reply?
        for index in 0..<10 {
            let reply = try await client.post("/v1/customers", "email=r\(index)%40example.com")
            statuses.append(reply.status)
            if reply.status == 429 { limited = reply }
        }
        #expect(statuses.filter { $0 == 200 }.count >= 2)
        let refused = try #require(limited, "ten writes in well under a few seconds: some are refused")
        #expect(refused.error["type"] as? String == "invalid_request_error")
        #expect(refused.error["code"] as? String == "rate_limit")
        let created = statuses.filter { $0 == 200 }.count
        // Reads count under the same global limit: wait out the window, then count.
        try await Task.sleep(nanoseconds: 1_100_000_000)
        #expect(try await client.get("/v1/customers?limit=100").data.count == created, "a refused write created nothing")
        var reads: [Int] = []
        for _ in 0..<6 { reads.append(try await client.get("/v1/account").status) }
        #expect(reads.contains(429))
        let log = try await client.control("GET", "/_sim/requests")
        #expect(log.data.contains { ($0["status"] as? NSNumber)?.intValue == 429 })
    }

    @Test func overAnEndpointsLimitIs429WhileOtherEndpointsGoOn() async throws {
        let sim = try SimulatorProcess("--limits", "live", "--endpoint-rps", "2")
        let client = Client(base: sim.base)
        var creates: [Int] = []
        for index in 0..<6 { creates.append(try await client.post("/v1/customers", "email=e\(index)%40example.com").status) }
        #expect(creates.contains(429), "six creates in well under a second against 2 a second")
        #expect(creates.filter { $0 == 200 }.count >= 2)
        // Another endpoint has a window of its own, as has the same operation on another id.
        #expect(try await client.get("/v1/account").status == 200)
        let customers = try await client.get("/v1/customers?limit=100").data.compactMap { $0["id"] as? String }
        #expect(customers.count == creates.filter { $0 == 200 }.count, "a refused create made nothing")
        #expect(try await client.get("/v1/customers/\(customers[0])").status == 200)
        #expect(try await client.get("/v1/customers/\(customers.last!)").status == 200)
        // Six more, alternating ids, in well under three seconds against 2 a second: one at
        // least is refused even on a machine slow enough to let a window pass between two.
        var retrieves: [Int] = []
        for index in 0..<6 { retrieves.append(try await client.get("/v1/customers/\(index.isMultiple(of: 2) ? customers[0] : customers.last!)").status) }
        #expect(retrieves.contains(429), "one endpoint, whatever the id: \(retrieves)")
    }

    @Test func faultsFailBeforeOrAfterTheWork() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()

        // 500 before the work: nothing is made.
        #expect(try await client.control("POST", "/_sim/faults", json: #"{"kind":"500","method":"POST","path":"/v1/invoices"}"#).status == 200)
        let serverError = try await client.post("/v1/invoices", "customer=\(customer)", idempotencyKey: "a")
        #expect(serverError.status == 500)
        #expect(serverError.error["type"] as? String == "api_error")
        #expect(serverError.header("Stripe-Should-Retry") == "true")
        #expect(try await invoiceCount(client) == 0)
        #expect(try await client.post("/v1/invoices", "customer=\(customer)", idempotencyKey: "a").status == 200, "the fault was used up")

        // 429 before the work.
        _ = try await client.control("POST", "/_sim/faults", json: #"{"kind":"429","count":2}"#)
        #expect(try await client.get("/v1/account").status == 429)
        #expect(try await client.post("/v1/invoices", "customer=\(customer)", idempotencyKey: "b").status == 429)
        #expect(try await invoiceCount(client) == 1)

        // A dropped connection after the work is stored: the retry under the same key replays it.
        _ = try await client.control("POST", "/_sim/faults", json: #"{"kind":"drop","path":"/v1/invoices"}"#)
        await #expect(throws: (any Error).self) {
            _ = try await client.post("/v1/invoices", "customer=\(customer)&metadata[n]=c", idempotencyKey: "c")
        }
        #expect(try await invoiceCount(client) == 2, "the work was done")
        let replay = try await client.post("/v1/invoices", "customer=\(customer)&metadata[n]=c", idempotencyKey: "c")
        #expect(replay.status == 200)
        #expect(replay.header("Idempotent-Replayed") == "true")
        #expect(try await invoiceCount(client) == 2, "no second invoice")

        // A 500 after the work is stored.
        _ = try await client.control("POST", "/_sim/faults", json: #"{"kind":"500","after":true}"#)
        #expect(try await client.post("/v1/invoices", "customer=\(customer)", idempotencyKey: "d").status == 500)
        #expect(try await invoiceCount(client) == 3)
        #expect(try await client.post("/v1/invoices", "customer=\(customer)", idempotencyKey: "d").header("Idempotent-Replayed") == "true")

        // A delay, then normal service.
        _ = try await client.control("POST", "/_sim/faults", json: #"{"kind":"delay","delay_ms":300,"method":"GET"}"#)
        let started = Date()
        #expect(try await client.get("/v1/account").status == 200)
        #expect(Date().timeIntervalSince(started) >= 0.3)

        let log = try await client.control("GET", "/_sim/requests")
        let faults = log.data.compactMap { $0["fault"] as? String }
        #expect(faults == ["500", "429", "429", "drop", "500_after", "delay"])
        #expect(log.data.contains { $0["fault"] as? String == "drop" && ($0["status"] as? NSNumber)?.intValue == 0 })
        let bad = try await client.control("POST", "/_sim/faults", json: #"{"kind":"teapot"}"#)
        #expect(bad.status == 400)
    }

    @Test func resetClearsEverything() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        _ = try await client.customer()
        _ = try await client.control("POST", "/_sim/keys", json: #"{"key":"rk_test_gone00001111","permissions":["rak_account_read"]}"#)
        #expect(try await client.control("POST", "/_sim/reset").status == 200)
        #expect(try await client.get("/v1/customers").data.isEmpty)
        #expect(try await client.get("/v1/account", key: "rk_test_gone00001111").status == 401)
        #expect(try await client.control("GET", "/_sim/requests").data.count == 2, "the log starts again")
    }

    @Test func webhooksAreSignedAndDeliveredToMatchingEndpoints() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let listener = try WebhookListener()
        let invoiceOnly = try WebhookListener()
        let endpoint = try await client.post("/v1/webhook_endpoints",
                                             "url=\(listener.url)&enabled_events[]=*&api_version=2026-07-29.dahlia")
        let secret = try #require(endpoint.json["secret"] as? String)
        _ = try await client.post("/v1/webhook_endpoints",
                                  "url=\(invoiceOnly.url)&enabled_events[]=invoice.paid&enabled_events[]=invoice.finalized")
        let disabled = try WebhookListener()
        let off = try await client.post("/v1/webhook_endpoints", "url=\(disabled.url)&enabled_events[]=*")
        #expect(try await client.post("/v1/webhook_endpoints/\(off.id)", "disabled=true").json["status"] as? String == "disabled")

        let customer = try await client.customer("payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa")
        let invoice = try await client.draftInvoice(customer: customer, amounts: [4200])
        _ = try await client.post("/v1/invoices/\(invoice)/finalize", "auto_advance=true")

        #expect(await eventually { invoiceOnly.requests.count >= 2 })
        #expect(await eventually { listener.requests.contains { String(decoding: $0.body, as: UTF8.self).contains("\"invoice.paid\"") } })
        for request in listener.requests {
            let header = try #require(request.header("stripe-signature"))
            let parts = Dictionary(uniqueKeysWithValues: header.split(separator: ",").map {
                let pair = $0.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            })
            let timestamp = try #require(Int64(parts["t"] ?? ""))
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 300)
            #expect(parts["v1"] == WebhookSignature.v1(secret: secret, timestamp: timestamp, body: request.body))
            #expect(parts["v1"] != WebhookSignature.v1(secret: "whsec_wrong", timestamp: timestamp, body: request.body))
            #expect(request.header("content-type")?.hasPrefix("application/json") == true)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            #expect(event["object"] as? String == "event")
            #expect(event["api_version"] as? String == "2026-07-29.dahlia")
        }
        let types = invoiceOnly.requests.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any])?["type"] as? String
        }
        #expect(Set(types) == ["invoice.finalized", "invoice.paid"], "only the enabled events")
        #expect(disabled.requests.isEmpty, "a disabled endpoint gets nothing")
        #expect(!listener.requests.contains { String(decoding: $0.body, as: UTF8.self).contains(secret) })

        let listed = try await client.get("/v1/webhook_endpoints")
        #expect(listed.data.count == 3)
        #expect(try await client.delete("/v1/webhook_endpoints/\(off.id)").json["deleted"] as? Bool == true)
        #expect(try await client.get("/v1/webhook_endpoints/\(off.id)").status == 404)
    }

    @Test func aFailedDeliveryIsRetried() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let listener = try WebhookListener(statuses: [500, 503])
        _ = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        _ = try await client.customer()
        #expect(await eventually(within: 8) { listener.requests.count >= 3 })
        let bodies = Set(listener.requests.map(\.body))
        #expect(bodies.count == 1, "the same event each time")
        let deliveries = try await client.control("GET", "/_sim/deliveries")
        #expect(deliveries.data.compactMap { ($0["status"] as? NSNumber)?.intValue } == [500, 503, 200])
        #expect(deliveries.data.last?["succeeded"] as? Bool == true)
    }

    @Test func checkoutCompletionAttachesACardAndEmitsTheEvent() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let session = try await client.post("/v1/checkout/sessions", "mode=setup&customer=\(customer)&currency=eur&success_url=https://example.com/ok")
        #expect(session.json["status"] as? String == "open")
        let completed = try await client.control("POST", "/_sim/checkout/sessions/\(session.id)/complete")
        #expect(completed.json["status"] as? String == "complete")
        #expect((completed.json["setup_intent"] as? String)?.hasPrefix("seti_") == true)
        #expect(try await client.get("/v1/checkout/sessions/\(session.id)").json["status"] as? String == "complete")
        let methods = try await client.get("/v1/customers/\(customer)/payment_methods")
        #expect(methods.data.count == 1)
        #expect((methods.data.first?["card"] as? [String: Any])?["last4"] as? String == "4242")
        let method = try #require(methods.data.first?["id"] as? String)
        #expect(try await client.get("/v1/customers/\(customer)/payment_methods/\(method)").status == 200)
        let events = try await client.get("/v1/events?type=checkout.session.completed")
        #expect(events.data.count == 1)
        #expect(try await client.control("POST", "/_sim/checkout/sessions/\(session.id)/complete").status == 400)
    }

    @Test func controlRoutesForcePaymentOutcomesAndPlantDifferences() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let invoice = try await client.draftInvoice(customer: customer, amounts: [1000, 500])
        _ = try await client.post("/v1/invoices/\(invoice)/finalize")
        let failed = try await client.control("POST", "/_sim/invoices/\(invoice)/fail", json: #"{"decline_code":"insufficient_funds"}"#)
        #expect((failed.json["attempt_count"] as? NSNumber)?.intValue == 1)
        let paid = try await client.control("POST", "/_sim/invoices/\(invoice)/pay")
        #expect(paid.json["status"] as? String == "paid")
        let types = try await client.get("/v1/events?limit=5").data.compactMap { $0["type"] as? String }
        #expect(types.prefix(3) == ["invoice.payment_succeeded", "invoice.paid", "invoice.payment_failed"])

        let lines = try await client.get("/v1/invoices/\(invoice)/lines").data
        let edited = try await client.control("POST", "/_sim/invoices/\(invoice)",
                                              json: #"{"total":1234,"currency":"eur","status":"open","delete_line":"\#(lines[0]["id"] as? String ?? "")","metadata":{"planted":"yes"}}"#)
        #expect(edited.status == 200, "\(edited)")
        let read = try await client.get("/v1/invoices/\(invoice)")
        #expect((read.json["total"] as? NSNumber)?.intValue == 1234)
        #expect(read.json["currency"] as? String == "eur")
        #expect(read.json["status"] as? String == "open")
        #expect((read.json["lines"] as? [String: Any]).flatMap { $0["data"] as? [Any] }?.count == 1)
        #expect(try await client.get("/v1/invoiceitems?invoice=\(invoice)").data.count == 1)

        let orphan = try await client.control("POST", "/_sim/invoices",
                                              json: #"{"customer":"\#(customer)","amount":777,"metadata":{"tollbooth_invoice":"ghost"}}"#)
        #expect(orphan.json["status"] as? String == "open")
        let listed = try await client.get("/v1/invoices?customer=\(customer)")
        #expect(listed.data.contains { ($0["metadata"] as? [String: String])?["tollbooth_invoice"] == "ghost" })

        let draft = try await client.draftInvoice(customer: customer, amounts: [100])
        _ = try await client.control("POST", "/_sim/invoices/\(draft)", json: #"{"fail_next_finalization":"The customer's location is not recognised."}"#)
        let refused = try await client.post("/v1/invoices/\(draft)/finalize")
        #expect(refused.status == 400)
        #expect(try await client.get("/v1/invoices/\(draft)").json["last_finalization_error"] is [String: Any])
        #expect(try await client.get("/v1/events?type=invoice.finalization_failed").data.count == 1)
        #expect(try await client.post("/v1/invoices/\(draft)/finalize").status == 200, "the next finalize works")
        #expect(try await client.control("POST", "/_sim/invoices/in_nothing/pay").status == 404)
    }

    @Test func theClockMovesObjectTimestampsAndExpiresIdempotencyKeys() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let started = Date()
        let before = try await client.post("/v1/customers", "email=a%40b.c", idempotencyKey: "cus-1")
        let moved = try await client.control("POST", "/_sim/clock", json: #"{"advance":90000}"#)
        #expect(moved.status == 200)
        let after = try await client.post("/v1/customers", "email=a%40b.c")
        // The advance, plus the real seconds between the two calls (a busy machine may take many).
        let elapsed = Int(Date().timeIntervalSince(started).rounded(.up))
        let difference = ((after.json["created"] as? NSNumber)?.intValue ?? 0) - ((before.json["created"] as? NSNumber)?.intValue ?? 0)
        #expect(difference >= 90000 && difference <= 90000 + elapsed + 1, "\(difference) after \(elapsed) s")
        // Past 24 hours the key is forgotten: the same call makes a second customer.
        let again = try await client.post("/v1/customers", "email=a%40b.c", idempotencyKey: "cus-1")
        #expect(again.header("Idempotent-Replayed") == nil)
        #expect(again.id != before.id)
        #expect(try await client.get("/v1/customers?email=a%40b.c").data.count == 3)
    }

    @Test func taxCalculationsUseTheMostSpecificRate() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let table = try await client.control("POST", "/_sim/tax_rates", json: """
            {"rates":[{"country":"US","percentage":"5","display_name":"Sales tax","tax_type":"sales_tax"},
                      {"country":"US","state":"CA","percentage":"8.875","display_name":"CA sales tax","tax_type":"sales_tax"},
                      {"country":"DE","percentage":"19","display_name":"USt"}]}
            """)
        #expect(table.status == 200, "\(table)")
        func calculate(_ address: String, _ extra: String = "") async throws -> Reply {
            try await client.post("/v1/tax/calculations", "currency=usd&\(address)&line_items[0][amount]=1000&line_items[0][reference]=l1&line_items[1][amount]=1190&line_items[1][reference]=l2&line_items[1][tax_behavior]=inclusive\(extra)")
        }
        let california = try await calculate("customer_details[address][country]=US&customer_details[address][state]=CA&customer_details[address_source]=billing")
        // 1000 x 8.875% = 88.75 -> 89; 1190 inclusive: 1190 - round(1190 / 1.08875) = 1190 - 1093 = 97.
        #expect((california.json["tax_amount_exclusive"] as? NSNumber)?.intValue == 89)
        #expect((california.json["tax_amount_inclusive"] as? NSNumber)?.intValue == 97)
        #expect((california.json["amount_total"] as? NSNumber)?.intValue == 2279)
        let texas = try await calculate("customer_details[address][country]=US&customer_details[address][state]=TX")
        #expect((texas.json["tax_amount_exclusive"] as? NSNumber)?.intValue == 50)
        let germany = try await calculate("customer_details[address][country]=DE")
        #expect((germany.json["tax_amount_exclusive"] as? NSNumber)?.intValue == 190)
        #expect((germany.json["tax_amount_inclusive"] as? NSNumber)?.intValue == 190)
        let france = try await calculate("customer_details[address][country]=FR")
        #expect((france.json["tax_amount_exclusive"] as? NSNumber)?.intValue == 0)
        let exempt = try await calculate("customer_details[address][country]=DE&customer_details[taxability_override]=customer_exempt")
        #expect((exempt.json["tax_amount_exclusive"] as? NSNumber)?.intValue == 0)
        let noAddress = try await client.post("/v1/tax/calculations", "currency=usd&line_items[0][amount]=1")
        #expect(noAddress.status == 400)

        let lines = try await client.get("/v1/tax/calculations/\(germany.id)/line_items")
        #expect(lines.data.compactMap { ($0["amount_tax"] as? NSNumber)?.intValue } == [190, 190])
        #expect(try await client.get("/v1/tax/calculations/\(germany.id)").id == germany.id)
        let transaction = try await client.post("/v1/tax/transactions/create_from_calculation", "calculation=\(germany.id)&reference=in_1")
        #expect(transaction.json["type"] as? String == "transaction")
        #expect(try await client.post("/v1/tax/transactions/create_from_calculation", "calculation=\(germany.id)&reference=in_1").status == 400,
                "a reference is used once")
        let reversal = try await client.post("/v1/tax/transactions/create_reversal", "mode=full&original_transaction=\(transaction.id)&reference=in_1-void")
        #expect(reversal.status == 200, "\(reversal)")
        #expect(reversal.json["type"] as? String == "reversal")
        let reversedLines = try #require((reversal.json["line_items"] as? [String: Any])?["data"] as? [[String: Any]])
        #expect(reversedLines.compactMap { ($0["amount_tax"] as? NSNumber)?.intValue } == [-190, -190])
        #expect(try await client.get("/v1/tax/transactions/\(reversal.id)").json["reversal"] is [String: Any])
    }
}
