import Crypto
import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `tollbooth serve` and `stripe-sim` talking over real HTTP on loopback: the simulator delivers
/// its signed webhooks to the server's webhook route, the server calls the simulator's API.
///
/// Amounts: the sample catalog's Starter plan bills a 29.00 fee in advance at the start of each
/// monthly period (2,900 cents in Stripe); Acme's grace for an unpaid invoice is 5 days (its
/// metadata), the other customers' 3 (the settings' default).
@Suite(.serialized) struct ServeStripeTests {
    static let key = "sk_test_serve0000000000001"

    /// A simulator, a served database connected to it (its webhook endpoint at the server's
    /// route) and an admin and a check token.
    final class Live {
        let cli: CLI
        let simulator: Simulator
        let server: ServeTests.Served
        let admin: String
        let check: String

        /// `connect: false` leaves Stripe unconnected and the server without a public URL.
        init(_ backend: Backend, connect: Bool = true) throws {
            cli = try CLI(backend)
            simulator = try Simulator(arguments: ["--limits", "none"])
            try cli.importFixtures()
            let stripe: [String: Any] = ["apiBase": simulator.baseURL, "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000]
            try Live.writeSettings(cli, ["stripe": stripe])
            admin = try cli.run("tokens", "create", "--scope", "admin").output
            check = try cli.run("tokens", "create", "--scope", "check").output
            server = try ServeTests.Served(cli)
            guard connect else { return }
            // The endpoint is registered at the server's public URL, known once it listens.
            try Live.writeSettings(cli, ["stripe": stripe, "server": ["publicUrl": server.base]])
            let connected = try cli.run(["stripe", "connect"], environment: ["TOLLBOOTH_STRIPE_KEY": ServeStripeTests.key])
            #expect(connected.status == 0 && connected.stdout.contains("\(server.base)/v1/stripe/webhook"), "\(connected)")
        }

        static func writeSettings(_ cli: CLI, _ settings: [String: Any]) throws {
            try cli.write("tollbooth.json", String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self))
        }

        /// The stored webhook signing secret.
        var webhookSecret: String {
            get throws {
                let data = try Data(contentsOf: URL(fileURLWithPath: cli.secretsPath))
                return try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["webhookSecret"] as? String)
            }
        }

        /// A GET of the simulator's API.
        func stripe(_ path: String) throws -> [String: Any] {
            var request = URLRequest(url: URL(string: simulator.baseURL + path)!)
            request.setValue("Bearer \(ServeStripeTests.key)", forHTTPHeaderField: "Authorization")
            let (data, _) = try SimulatorControl.send(request)
            return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        }

        /// Posts a body to the webhook route with `signature` as the Stripe-Signature header (none when nil).
        func deliver(_ body: Data, signature: String?) throws -> (status: Int, body: [String: Any], data: Data) {
            try server.call("POST", "/v1/stripe/webhook", body: body, headers: signature.map { ["Stripe-Signature": $0] } ?? [:])
        }

        /// An event as Stripe renders it, about `object`.
        func event(_ id: String, type: String, created: Int, object: [String: Any]) throws -> Data {
            try JSONSerialization.data(withJSONObject: [
                "id": id, "object": "event", "api_version": "2026-07-29.dahlia", "created": created, "livemode": false,
                "pending_webhooks": 1, "type": type, "request": ["id": NSNull(), "idempotency_key": NSNull()],
                "data": ["object": object],
            ], options: [.sortedKeys])
        }

        func check(_ apiKey: String) throws -> (status: Int, body: [String: Any], data: Data) {
            try server.call("POST", "/v1/check", token: check, json: ["apiKey": apiKey, "feature": "api_requests"])
        }

        func count(_ sql: String) throws -> Int { Int(try cli.query(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }

        /// The status of the only local invoice.
        var status: String {
            get throws { try cli.query("SELECT status FROM invoices").trimmingCharacters(in: .whitespacesAndNewlines) }
        }
    }

    /// Stripe's signature: HMAC-SHA256 keyed with the whole secret over "{t}.{body}", in hex.
    static func signature(_ body: Data, secret: String, at timestamp: Int) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).".utf8) + body, using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(timestamp),v1=" + code.map { String(format: "%02x", $0) }.joined()
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        try poll(for: seconds, condition)
    }

    /// Subscribes Acme to Starter through the server and completes Checkout with `card`;
    /// returns the subscription id and the API key shown once.
    func subscribeThroughCheckout(_ live: Live, card: String = "pm_card_visa") throws -> (id: String, apiKey: String) {
        let created = try live.server.call("POST", "/v1/subscriptions", token: live.admin, json: ["customer": "acme", "plan": "starter"])
        #expect(created.status == 201, "\(String(decoding: created.data, as: UTF8.self))")
        #expect(created.body["status"] as? String == "pending_payment")
        let id = try #require(created.body["id"] as? String)
        let url = try #require(created.body["checkoutUrl"] as? String)
        let session = String(try #require(url.firstMatch(of: /cs_[A-Za-z0-9_]+/)).output)
        try live.simulator.control("POST", "checkout/sessions/\(session)/complete", ["payment_method": card])
        var first: [String: Any] = [:]
        #expect(try eventually {
            first = try live.server.call("GET", "/v1/subscriptions/\(id)", token: live.admin).body
            return first["status"] as? String == "active"
        }, "\(first)")
        let apiKey = try #require((first["apiKey"] as? [String: Any])?["key"] as? String, "\(first)")
        return (id, apiKey)
    }

    @Test(arguments: Backend.allCases)
    func aPendingSubscriptionStartsOnlyWhenCheckoutCompletesAndItsKeyIsShownOnce(_ backend: Backend) throws {
        let live = try Live(backend)
        let created = try live.server.call("POST", "/v1/subscriptions", token: live.admin, json: ["customer": "acme", "plan": "starter"])
        #expect(created.status == 201)
        #expect(created.body["status"] as? String == "pending_payment")
        let id = try #require(created.body["id"] as? String)
        #expect((created.body["checkoutUrl"] as? String)?.hasPrefix(live.simulator.baseURL + "/_sim/pages/checkout/cs_") == true, "\(created.body)")
        // Nothing is in service while Checkout waits.
        #expect(try live.count("SELECT count(*) FROM subscriptions WHERE customer_key = 'acme'") == 0)
        let waiting = try live.server.call("GET", "/v1/subscriptions/\(id)", token: live.admin)
        #expect(waiting.status == 200 && waiting.body["status"] as? String == "pending_payment")
        #expect(waiting.body["apiKey"] == nil)

        let before = ServeStripeTests.now
        let session = String(try #require((created.body["checkoutUrl"] as? String)?.firstMatch(of: /cs_[A-Za-z0-9_]+/)).output)
        try live.simulator.control("POST", "checkout/sessions/\(session)/complete", ["payment_method": "pm_card_visa"])
        var first: [String: Any] = [:]
        #expect(try eventually {
            first = try live.server.call("GET", "/v1/subscriptions/\(id)", token: live.admin).body
            return first["status"] as? String == "active"
        }, "\(first)")
        let start = try #require((first["start"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(Int(start.timeIntervalSince1970) >= before - 1 && Int(start.timeIntervalSince1970) <= ServeStripeTests.now)
        let apiKey = try #require((first["apiKey"] as? [String: Any])?["key"] as? String)
        #expect(apiKey.hasPrefix("tb_test_") && apiKey.count == 40)
        // Shown the first time only.
        let second = try live.server.call("GET", "/v1/subscriptions/\(id)", token: live.admin)
        #expect(second.body["status"] as? String == "active" && second.body["apiKey"] == nil)
        // The key works at once; the saved card is the Customer's default payment method.
        let allowed = try live.check(apiKey)
        #expect(allowed.status == 200 && allowed.body["plan"] as? String == "starter" && allowed.body["subscription"] as? String == id)
        let customers = try #require(try live.stripe("/v1/customers?limit=10")["data"] as? [[String: Any]])
        let customer = try #require(customers.first { ($0["metadata"] as? [String: String])?["tollbooth_customer"] == "acme" })
        let methods = try #require(try live.stripe("/v1/customers/\(customer["id"] as? String ?? "")/payment_methods")["data"] as? [[String: Any]])
        #expect(methods.count == 1)
        #expect((customer["invoice_settings"] as? [String: Any])?["default_payment_method"] as? String == methods.first?["id"] as? String)
        // A second subscription is refused while this one is in service.
        let again = try live.server.call("POST", "/v1/subscriptions", token: live.admin, json: ["customer": "acme", "plan": "pro"])
        #expect(again.status == 409, "\(again.body)")
    }

    @Test(arguments: Backend.allCases)
    func aCardSavedInCheckoutIsChargedByTheNextBillRun(_ backend: Backend) throws {
        let live = try Live(backend)
        let (id, _) = try subscribeThroughCheckout(live)
        let record = try #require(try live.cli.subscriptions(at: "2030-01-01T00:00:00Z").first { $0["id"] as? String == id })
        let start = try #require((record["start"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        // Its first period's fee is billed in advance at the start, closed once the collection
        // window (an hour) has passed: 29.00, charged to the card saved in Checkout.
        let at = ISO8601DateFormatter().string(from: start.addingTimeInterval(2 * 3600))
        let run = try live.cli.run("run", "--at", at)
        #expect(run.status == 0, "\(run)")
        // Paid: seen by the run's collect stage or, first, by the server through invoice.paid.
        #expect(run.stdout.contains("issue: issued 1,"), "\(run)")
        #expect(try eventually { try live.cli.query("SELECT status FROM invoices").trimmingCharacters(in: .whitespacesAndNewlines) == "paid" })
        let invoices = try #require(try live.stripe("/v1/invoices?limit=10")["data"] as? [[String: Any]])
        #expect(invoices.count == 1)
        #expect(invoices.first?["status"] as? String == "paid" && invoices.first?["amount_paid"] as? Int == 2900, "\(invoices)")
    }

    @Test(arguments: Backend.allCases)
    func badSignaturesAreRefusedAndNothingIsStored(_ backend: Backend) throws {
        let live = try Live(backend)
        let secret = try live.webhookSecret
        let body = try live.event("evt_sig_1", type: "invoice.paid", created: ServeStripeTests.now, object: ["id": "in_unknown", "object": "invoice"])
        let now = ServeStripeTests.now
        var tampered = body
        tampered[tampered.index(tampered.startIndex, offsetBy: 10)] ^= 0x01
        let refused: [(String, Data, String?)] = [
            ("301 s old", body, ServeStripeTests.signature(body, secret: secret, at: now - 301)),
            ("wrong secret", body, ServeStripeTests.signature(body, secret: "whsec_not_the_secret", at: now)),
            ("tampered body", tampered, ServeStripeTests.signature(body, secret: secret, at: now)),
            ("no header", body, nil),
        ]
        for (name, sent, header) in refused {
            let answer = try live.deliver(sent, signature: header)
            #expect(answer.status == 400, "\(name): \(answer.status) \(String(decoding: answer.data, as: UTF8.self))")
            #expect(answer.body["type"] as? String == "about:blank", "\(name): a problem document")
        }
        #expect(try live.count("SELECT count(*) FROM stripe_events WHERE id = 'evt_sig_1'") == 0)
        // 299 s old is inside the tolerance: stored, and ignored (no such invoice).
        let accepted = try live.deliver(body, signature: ServeStripeTests.signature(body, secret: secret, at: now - 299))
        #expect(accepted.status == 200, "\(String(decoding: accepted.data, as: UTF8.self))")
        let outcome = try live.cli.query("SELECT outcome FROM stripe_events WHERE id = 'evt_sig_1'")
        #expect(outcome.hasPrefix("ignored: no invoice of Tollbooth's is in_unknown"), "\(outcome)")
        // An operator sees them counted.
        let metrics = String(decoding: try live.server.call("GET", "/metrics").data, as: UTF8.self)
        #expect(metrics.contains(#"tollbooth_stripe_webhooks_total{outcome="refused"} 4"#), "\(metrics)")
        #expect(metrics.contains(#"tollbooth_stripe_webhooks_total{outcome="ignored"} 1"#), "\(metrics)")
    }

    /// Headers made with Python's `hmac` as Stripe documents, judged by Stripe's official
    /// library: the server takes exactly the ones the library accepts (and stores them), and
    /// refuses the rest with 400, storing nothing. The corpus is made just before it is sent;
    /// its ages (290 s, 310 s) leave room for the seconds that takes.
    @Test(arguments: Backend.allCases)
    func serveAcceptsExactlyTheHeadersStripesLibraryAccepts(_ backend: Backend) throws {
        let live = try Live(backend)
        let corpus = try StripeSignatureCorpus.make(secret: try live.webhookSecret)
        #expect(corpus.cases.count == 24 && corpus.cases.filter(\.accepted).count == 7)
        for sample in corpus.cases {
            let answer = try live.deliver(sample.body, signature: sample.header)
            let id = try #require((try JSONSerialization.jsonObject(with: sample.body) as? [String: Any])?["id"] as? String)
            let stored = try live.count("SELECT count(*) FROM stripe_events WHERE id = '\(id)'")
            if sample.accepted {
                #expect(answer.status == 200 && stored == 1, "\(sample.name): Stripe's library accepts it; serve answered \(answer.status)")
            } else {
                #expect(answer.status == 400 && stored == 0,
                        "\(sample.name): Stripe's library refuses it (\(sample.error ?? "")); serve answered \(answer.status)")
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func paymentStateFollowsWebhooksAtOnceOnlyForwardWithGraceFromTheFailuresTime(_ backend: Backend) throws {
        let live = try Live(backend)
        let (_, apiKey) = try subscribeThroughCheckout(live, card: "pm_card_chargeCustomerFail")
        let record = try #require(try live.cli.subscriptions(at: "2030-01-01T00:00:00Z").first)
        let start = try #require((record["start"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        // The run issues the 29.00 invoice; the card declines; Stripe's invoice.payment_failed
        // reaches the server, which records the failure at the event's time: within the grace.
        #expect(try live.cli.run("run", "--at", ISO8601DateFormatter().string(from: start.addingTimeInterval(7200))).status == 0)
        let invoice = try #require((try live.stripe("/v1/invoices?limit=10")["data"] as? [[String: Any]])?.first)
        let stripeId = try #require(invoice["id"] as? String)
        #expect(try eventually { try live.count("SELECT count(*) FROM stripe_events WHERE type = 'invoice.payment_failed' AND applied_at IS NOT NULL") == 1 })
        #expect(try live.cli.query("SELECT status FROM invoices").trimmingCharacters(in: .whitespacesAndNewlines) == "payment_failed")
        #expect(try live.check(apiKey).status == 200)

        // An earlier failure, 10 days ago, delivered late: the grace (5 days) counts from it,
        // and the next check is refused.
        let secret = try live.webhookSecret
        let now = ServeStripeTests.now
        let early = try live.event("evt_early_failure", type: "invoice.payment_failed", created: now - 10 * 86_400, object: invoice)
        #expect(try live.deliver(early, signature: ServeStripeTests.signature(early, secret: secret, at: now)).status == 200)
        #expect(try live.count("SELECT payment_failed_at FROM invoices") == now - 10 * 86_400)
        let refused = try live.check(apiKey)
        #expect(refused.status == 403 && (refused.body["detail"] as? String)?.hasPrefix("payment overdue") == true, "\(refused.body)")

        // Delivered twice: applied once.
        #expect(try live.deliver(early, signature: ServeStripeTests.signature(early, secret: secret, at: now)).body["duplicate"] as? Bool == true)
        #expect(try live.count("SELECT attempts FROM stripe_events WHERE id = 'evt_early_failure'") == 1)

        // Paid (the customer paid on the hosted page): allowed at once.
        try live.simulator.control("POST", "invoices/\(stripeId)/pay")
        #expect(try eventually { try live.check(apiKey).status == 200 })
        #expect(try live.cli.query("SELECT status FROM invoices").trimmingCharacters(in: .whitespacesAndNewlines) == "paid")

        // A failure event delivered after the payment changes nothing, even a newer one.
        let late = try live.event("evt_late_failure", type: "invoice.payment_failed", created: ServeStripeTests.now + 5, object: invoice)
        #expect(try live.deliver(late, signature: ServeStripeTests.signature(late, secret: secret, at: ServeStripeTests.now)).status == 200)
        #expect(try live.cli.query("SELECT status FROM invoices").trimmingCharacters(in: .whitespacesAndNewlines) == "paid")
        #expect(try live.cli.query("SELECT outcome FROM stripe_events WHERE id = 'evt_late_failure'").contains("does not move it forward"))
        #expect(try live.check(apiKey).status == 200)
    }

    /// Bills Acme's first Starter period (29.00) with a card that declines, and waits until the
    /// server has applied Stripe's invoice.payment_failed; returns the Stripe invoice's id and
    /// the subscription's start.
    func billWithADecliningCard(_ live: Live) throws -> (stripeId: String, apiKey: String, start: Date) {
        let (_, apiKey) = try subscribeThroughCheckout(live, card: "pm_card_chargeCustomerFail")
        let record = try #require(try live.cli.subscriptions(at: "2030-01-01T00:00:00Z").first)
        let start = try #require((record["start"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(try live.cli.run("run", "--at", ISO8601DateFormatter().string(from: start.addingTimeInterval(7200))).status == 0)
        let invoice = try #require((try live.stripe("/v1/invoices?limit=10")["data"] as? [[String: Any]])?.first)
        #expect(try eventually { try live.status == "payment_failed" })
        return (try #require(invoice["id"] as? String), apiKey, start)
    }

    /// The held deliveries' event ids of `type`.
    func held(_ live: Live, _ type: String) throws -> [String] {
        let rows = try #require(try live.simulator.control("GET", "webhooks/held")["data"] as? [[String: Any]])
        return rows.filter { $0["type"] as? String == type }.compactMap { $0["event"] as? String }
    }

    @Test(arguments: Backend.allCases)
    func eventsDeliveredOutOfOrderOnlyMoveForward(_ backend: Backend) throws {
        let live = try Live(backend)
        let (stripeId, apiKey, _) = try billWithADecliningCard(live)
        // The customer pays on the hosted page, then the next retry fails: Stripe's events are
        // held and arrive in reverse, the failure after the payment.
        try live.simulator.control("POST", "webhooks/hold")
        try live.simulator.control("POST", "invoices/\(stripeId)/pay")
        let paid = try #require(try held(live, "invoice.paid").first)
        let failure = try live.event("evt_retry_failure", type: "invoice.payment_failed", created: ServeStripeTests.now, object:
            try #require(try live.stripe("/v1/invoices/\(stripeId)") as [String: Any]?))
        #expect(try live.simulator.control("POST", "webhooks/release", ["order": "reverse"])["released"] as? Int ?? 0 >= 1)
        #expect(try eventually { try live.status == "paid" })
        #expect(try live.count("SELECT count(*) FROM stripe_events WHERE id = '\(paid)' AND outcome LIKE 'applied: %'") == 1)
        // A failure delivered after the payment (signed now by the endpoint's secret) changes nothing.
        let answer = try live.deliver(failure, signature: ServeStripeTests.signature(failure, secret: try live.webhookSecret, at: ServeStripeTests.now))
        #expect(answer.status == 200 && (answer.body["outcome"] as? String)?.hasPrefix("ignored: ") == true, "\(answer.body)")
        #expect(try live.status == "paid")
        #expect(try live.check(apiKey).status == 200)
    }

    @Test(arguments: Backend.allCases)
    func aLostWebhookIsBackfilledByCollectAndRedeliveriesAreRefusedWhenStaleAndAppliedOnce(_ backend: Backend) throws {
        let live = try Live(backend)
        let (stripeId, _, start) = try billWithADecliningCard(live)
        // The invoice.paid webhook is lost.
        try live.simulator.control("POST", "webhooks/hold")
        try live.simulator.control("POST", "invoices/\(stripeId)/pay")
        let paid = try #require(try held(live, "invoice.paid").first)
        #expect(try live.simulator.control("POST", "webhooks/discard")["discarded"] as? Int ?? 0 >= 1)
        // Stripe retries it with a signature 301 s old: 400 each time, nothing stored.
        try live.simulator.control("POST", "events/\(paid)/deliver", ["signature_age": 301])
        #expect(try eventually {
            let deliveries = try #require(try live.simulator.control("GET", "deliveries")["data"] as? [[String: Any]])
            return deliveries.contains { $0["event"] as? String == paid && $0["status"] as? Int == 400 }
        })
        #expect(try live.count("SELECT count(*) FROM stripe_events WHERE id = '\(paid)'") == 0)
        #expect(try live.status == "payment_failed")
        // The next run's collect stage reads the invoice from Stripe: paid.
        let run = try live.cli.run("run", "--at", ISO8601DateFormatter().string(from: start.addingTimeInterval(3 * 3600)))
        #expect(run.status == 0 && run.stdout.contains("collect: paid 1,"), "\(run)")
        #expect(try live.status == "paid")
        // Delivered twice, signed now: stored once, and it changes nothing (already paid).
        try live.simulator.control("POST", "events/\(paid)/deliver", ["times": 2])
        #expect(try eventually {
            let deliveries = try #require(try live.simulator.control("GET", "deliveries")["data"] as? [[String: Any]])
            return deliveries.filter { $0["event"] as? String == paid && $0["status"] as? Int == 200 }.count == 2
        })
        #expect(try live.count("SELECT count(*) FROM stripe_events WHERE id = '\(paid)'") == 1)
        #expect(try live.count("SELECT attempts FROM stripe_events WHERE id = '\(paid)'") == 1)
        #expect(try live.status == "paid")
    }

    @Test(arguments: Backend.allCases)
    func anAbandonedCheckoutLeavesNothingInService(_ backend: Backend) throws {
        let live = try Live(backend)
        // Expired: Stripe's checkout.session.expired ends the waiting subscription.
        let first = try live.server.call("POST", "/v1/subscriptions", token: live.admin, json: ["customer": "acme", "plan": "starter"])
        let firstId = try #require(first.body["id"] as? String)
        let session = String(try #require((first.body["checkoutUrl"] as? String)?.firstMatch(of: /cs_[A-Za-z0-9_]+/)).output)
        try live.simulator.control("POST", "checkout/sessions/\(session)/expire")
        #expect(try eventually { try live.server.call("GET", "/v1/subscriptions/\(firstId)", token: live.admin).body["status"] as? String == "expired" })
        // Cancelled: the customer comes back through the cancel URL; completing that Checkout
        // later still starts nothing.
        let second = try live.server.call("POST", "/v1/subscriptions", token: live.admin, json: ["customer": "acme", "plan": "starter"])
        let secondId = try #require(second.body["id"] as? String)
        let secondSession = String(try #require((second.body["checkoutUrl"] as? String)?.firstMatch(of: /cs_[A-Za-z0-9_]+/)).output)
        let page = try live.server.call("GET", "/portal/checkout/cancelled?subscription=\(secondId)")
        #expect(page.status == 200 && String(decoding: page.data, as: UTF8.self).contains("Checkout cancelled"))
        let cancelled = try live.server.call("GET", "/v1/subscriptions/\(secondId)", token: live.admin)
        #expect(cancelled.body["status"] as? String == "cancelled" && cancelled.body["checkoutUrl"] is NSNull, "\(cancelled.body)")
        try live.simulator.control("POST", "checkout/sessions/\(secondSession)/complete", ["payment_method": "pm_card_visa"])
        #expect(try eventually { try live.count("SELECT count(*) FROM stripe_events WHERE type = 'checkout.session.completed' AND applied_at IS NOT NULL") == 1 })
        #expect(try live.count("SELECT count(*) FROM subscriptions") == 0)
        #expect(try live.count("SELECT count(*) FROM api_keys") == 0)
        #expect(try live.server.call("GET", "/v1/subscriptions/\(secondId)", token: live.admin).body["status"] as? String == "cancelled")
    }

    @Test(arguments: Backend.allCases)
    func theSetupAPIConnectsReportsReadinessAndRotatesTheKeyWithoutShowingIt(_ backend: Backend) throws {
        let live = try Live(backend, connect: false)
        let before = try live.server.call("GET", "/billing-readiness", token: live.admin)
        #expect(before.status == 200 && before.body["ready"] as? Bool == false, "\(before.body)")
        #expect(((before.body["checks"] as? [[String: Any]])?.first?["detail"] as? String)?.hasPrefix("Stripe is not connected") == true)
        // The commands' rules: a publishable key, a live key in a test installation.
        for (key, detail) in [("pk_test_" + String(repeating: "a", count: 24), "a publishable key, pk_, cannot call the API"), ("sk_live_" + String(repeating: "b", count: 24), "live-mode key")] {
            let refused = try live.server.call("POST", "/setup/stripe", token: live.admin, json: ["apiKey": key])
            #expect(refused.status == 422 && refused.body["field"] as? String == "apiKey", "\(refused.body)")
            #expect((refused.body["detail"] as? String)?.contains(detail) == true && !String(decoding: refused.data, as: UTF8.self).contains(key),
                    "\(refused.body)")
        }
        let rotatedBeforeConnect = try live.server.call("POST", "/setup/stripe/rotate-key", token: live.admin, json: ["apiKey": ServeStripeTests.key])
        #expect(rotatedBeforeConnect.status == 409, "\(rotatedBeforeConnect.body)")
        // Connected: the webhook endpoint at the address the server was called on.
        let connected = try live.server.call("POST", "/setup/stripe", token: live.admin, json: ["apiKey": ServeStripeTests.key, "name": "Acme API"])
        #expect(connected.status == 200, "\(connected.body)")
        #expect(connected.body["account"] as? String == "acct_1TbSimulator0000" && connected.body["mode"] as? String == "test")
        let endpoint = try #require(connected.body["webhookEndpoint"] as? [String: Any])
        #expect(endpoint["url"] as? String == live.server.base + "/v1/stripe/webhook" && endpoint["registered"] as? Bool == true)
        let ready = try live.server.call("GET", "/billing-readiness", token: live.admin)
        let failing = (ready.body["checks"] as? [[String: Any]] ?? []).filter { $0["ok"] as? Bool != true }
        #expect(ready.body["ready"] as? Bool == true && failing.isEmpty, "\(failing)")
        // Rotation: the same key, a key of another account and a restricted key lacking
        // permissions are refused with the command's messages; another key of the account is taken.
        let second = "sk_test_serve0000000000002"
        let foreign = "sk_test_foreign000000000001", narrow = "rk_test_narrow0000000000001"
        try live.simulator.register(key: foreign, account: "acct_1TbOtherAccount00")
        try live.simulator.register(key: narrow, permissions: ["rak_account_read", "rak_customer_write"])
        let otherAccount = try live.server.call("POST", "/setup/stripe/rotate-key", token: live.admin, json: ["apiKey": foreign])
        #expect(otherAccount.status == 422 && (otherAccount.body["detail"] as? String)?.contains("belongs to account acct_1TbOtherAccount00, not the connected account acct_1TbSimulator0000") == true,
                "\(otherAccount.body)")
        let lacking = try live.server.call("POST", "/setup/stripe/rotate-key", token: live.admin, json: ["apiKey": narrow])
        #expect(lacking.status == 422 && (lacking.body["detail"] as? String)?.contains("lacks 6 permissions Tollbooth needs") == true, "\(lacking.body)")
        let same = try live.server.call("POST", "/setup/stripe/rotate-key", token: live.admin, json: ["apiKey": ServeStripeTests.key])
        #expect(same.status == 422 && (same.body["detail"] as? String)?.contains("already connected") == true, "\(same.body)")
        let rotated = try live.server.call("POST", "/setup/stripe/rotate-key", token: live.admin, json: ["apiKey": second])
        #expect(rotated.status == 200 && rotated.body["account"] as? String == "acct_1TbSimulator0000", "\(rotated.body)")
        // Only a check token: 403.
        #expect(try live.server.call("POST", "/setup/stripe", token: live.check, json: ["apiKey": second]).status == 403)
        // No answer and no log line holds a key or the signing secret.
        let secret = try live.webhookSecret
        for answer in [connected, ready, rotated, same, otherAccount, lacking] {
            let text = String(decoding: answer.data, as: UTF8.self)
            #expect(![ServeStripeTests.key, second, foreign, narrow, secret].contains { text.contains($0) }, "\(text)")
        }
        let log = try String(contentsOf: live.cli.folder.appendingPathComponent("serve.log"), encoding: .utf8)
        #expect(![ServeStripeTests.key, second, foreign, narrow, secret].contains { log.contains($0) })
        #expect(log.contains("/setup/stripe"))
    }

    @Test(arguments: Backend.allCases)
    func aRotatedSigningSecretStillVerifiesEventsSignedBeforeTheRotation(_ backend: Backend) throws {
        let live = try Live(backend)
        let old = try live.webhookSecret
        let rotatedAt = ServeStripeTests.now
        let rotation = try live.cli.run(["stripe", "connect", "--new-webhook-secret"], environment: ["TOLLBOOTH_STRIPE_KEY": ServeStripeTests.key])
        #expect(rotation.status == 0, "\(rotation)")
        let new = try live.webhookSecret
        #expect(new != old && new.hasPrefix("whsec_"))
        // One endpoint remains: the old one is deleted.
        let endpoints = try #require(try live.stripe("/v1/webhook_endpoints")["data"] as? [[String: Any]])
        #expect(endpoints.count == 1)
        func delivery(_ id: String, secret: String, at time: Int) throws -> Int {
            let body = try live.event(id, type: "customer.updated", created: time, object: ["id": "cus_x", "object": "customer"])
            return try live.deliver(body, signature: ServeStripeTests.signature(body, secret: secret, at: time)).status
        }
        // Signed with the old secret before the rotation (in flight when it happened): taken.
        #expect(try delivery("evt_before_rotation", secret: old, at: rotatedAt - 5) == 200)
        // Signed with the old secret after it: refused. The new secret: taken.
        #expect(try delivery("evt_after_rotation_old", secret: old, at: ServeStripeTests.now + 2) == 400)
        #expect(try delivery("evt_after_rotation_new", secret: new, at: ServeStripeTests.now) == 200)
        #expect(try live.count("SELECT count(*) FROM stripe_events WHERE id LIKE 'evt_%rotation%'") == 2)
    }

    /// The subscription and key routes with the command line's rules: Acme on Starter through
    /// Checkout, then a second key, an upgrade to Pro (immediate), a cancellation at the period
    /// end and its reactivation, an immediate cancellation.
    @Test(arguments: Backend.allCases)
    func subscriptionAndKeyRoutesFollowTheCommandLinesRules(_ backend: Backend) throws {
        let live = try Live(backend)
        let (id, firstKey) = try subscribeThroughCheckout(live)
        let admin = live.admin
        // Keys: listed without their secrets, a new one shown once, revoked at once.
        let listed = try live.server.call("GET", "/v1/customers/acme/api-keys", token: admin)
        let keys = try #require(listed.body["data"] as? [[String: Any]])
        #expect(listed.status == 200 && keys.count == 1 && keys.first?["last4"] as? String == String(firstKey.suffix(4)))
        #expect(!String(decoding: listed.data, as: UTF8.self).contains(firstKey))
        let made = try live.server.call("POST", "/v1/customers/acme/api-keys", token: admin)
        let secondKey = try #require(made.body["key"] as? String)
        let secondId = try #require(made.body["id"] as? String)
        #expect(made.status == 201 && secondKey.hasPrefix("tb_test_") && secondKey != firstKey)
        #expect(try live.check(secondKey).status == 200)
        #expect(try live.server.call("DELETE", "/v1/customers/acme/api-keys/\(secondId)", token: admin).status == 200)
        let revoked = try live.check(secondKey)
        #expect(revoked.status == 403 && (revoked.body["detail"] as? String)?.hasPrefix("invalid key") == true, "\(revoked.body)")
        #expect(try live.server.call("DELETE", "/v1/customers/acme/api-keys/\(secondId)", token: admin).status == 404)
        #expect(try live.server.call("GET", "/v1/customers/nobody/api-keys", token: admin).status == 404)

        // Errors: an unknown subscription in the path 404; an unknown customer or plan in the
        // body 422 on that field; a bad timing 422 on "timing"; nothing to reactivate 409.
        #expect(try live.server.call("GET", "/v1/subscriptions/sub_nope", token: admin).status == 404)
        let nobody = try live.server.call("POST", "/v1/subscriptions", token: admin, json: ["customer": "nobody", "plan": "starter"])
        #expect(nobody.status == 422 && nobody.body["field"] as? String == "customer", "\(nobody.body)")
        let badPlan = try live.server.call("POST", "/v1/subscriptions/\(id)/change", token: admin, json: ["plan": "platinum"])
        #expect(badPlan.status == 422 && badPlan.body["field"] as? String == "plan", "\(badPlan.body)")
        let badTiming = try live.server.call("POST", "/v1/subscriptions/\(id)/cancel", token: admin, json: ["timing": "someday"])
        #expect(badTiming.status == 422 && badTiming.body["field"] as? String == "timing", "\(badTiming.body)")
        #expect(try live.server.call("POST", "/v1/subscriptions/\(id)/reactivate", token: admin).status == 409)

        // An upgrade is immediate: the successor is in service and the check says so.
        let changed = try live.server.call("POST", "/v1/subscriptions/\(id)/change", token: admin, json: ["plan": "pro"])
        #expect(changed.status == 200 && changed.body["planKey"] as? String == "pro" && changed.body["status"] as? String == "active", "\(changed.body)")
        let successor = try #require(changed.body["id"] as? String)
        #expect(try live.check(firstKey).body["plan"] as? String == "pro")
        #expect(try live.server.call("POST", "/v1/subscriptions/\(id)/cancel", token: admin, json: [:]).status == 409, "the old one is read-only")

        // Cancelled at the period end (as a portal does): access until then; reactivated.
        let atEnd = try live.server.call("POST", "/v1/subscriptions/\(successor)/cancel", token: admin, json: ["timing": "next_billing_cycle"])
        #expect(atEnd.status == 200 && atEnd.body["pendingCancel"] is String && atEnd.body["status"] as? String == "canceled", "\(atEnd.body)")
        #expect(try live.check(firstKey).status == 200)
        let reactivated = try live.server.call("POST", "/v1/subscriptions/\(successor)/reactivate", token: admin)
        #expect(reactivated.status == 200 && reactivated.body["pendingCancel"] is NSNull && reactivated.body["status"] as? String == "active")

        // The portal session: a Customer Portal URL of the simulator.
        let portal = try live.server.call("POST", "/v1/customers/acme/portal-session", token: admin, json: ["returnUrl": "https://example.com/account"])
        #expect(portal.status == 200 && (portal.body["url"] as? String)?.hasPrefix(live.simulator.baseURL) == true, "\(portal.body)")
        #expect(try live.server.call("POST", "/v1/customers/nobody/portal-session", token: admin, json: [:]).status == 404)

        // Cancelled with no timing: at once, and the next check is refused.
        let now = try live.server.call("POST", "/v1/subscriptions/\(successor)/cancel", token: admin, json: [:])
        #expect(now.status == 200, "\(now.body)")
        let refused = try live.check(firstKey)
        #expect(refused.status == 403 && (refused.body["detail"] as? String)?.hasPrefix("expired subscription") == true, "\(refused.body)")
    }
}
