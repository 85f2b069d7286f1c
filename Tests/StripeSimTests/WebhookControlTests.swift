import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import StripeSim

/// The webhook controls a receiver's tests need: held deliveries released in reverse or
/// discarded, an event delivered again (twice, late, with an old signature), Checkout Session
/// expiry, and `signed_at` in the delivery log.
@Suite struct WebhookControlTests {
    /// A simulator served in this process whose wall clock stands still at `now`, so signature
    /// timestamps can be asserted exactly.
    private final class StillSimulator: @unchecked Sendable {
        static let now: Int64 = 1_785_000_000
        let server: HTTPServer
        let client: Client

        init() throws {
            let wall = Double(StillSimulator.now)
            let simulator = Simulator(configuration: SimulatorConfiguration(limits: .none),
                                      clock: SimulatorClock(wall: { wall }, monotonic: { ProcessInfo.processInfo.systemUptime }))
            server = try HTTPServer(port: 0) { simulator.handle($0) }
            simulator.publicBase = "http://127.0.0.1:\(server.port)"
            server.start()
            client = Client(base: simulator.publicBase)
        }

        deinit { server.stop() }
    }

    /// One delivery as the listener received it.
    private struct Received {
        var eventId: String
        var type: String
        var signedAt: Int64
        var v1: String
        var body: [UInt8]
    }

    private func received(_ listener: WebhookListener) throws -> [Received] {
        try listener.requests.map { request in
            let event = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            let header = try #require(request.header("stripe-signature"))
            let parts = Dictionary(uniqueKeysWithValues: header.split(separator: ",").map {
                let pair = $0.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            })
            return Received(eventId: event["id"] as? String ?? "", type: event["type"] as? String ?? "",
                            signedAt: try #require(Int64(parts["t"] ?? "")), v1: parts["v1"] ?? "", body: request.body)
        }
    }

    /// The ids of the account's events of `type`, oldest first.
    private func eventIds(_ client: Client, type: String) async throws -> [String] {
        try await client.get("/v1/events?type=\(type)&limit=100").data.compactMap { $0["id"] as? String }.reversed()
    }

    private func int(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }

    @Test func heldDeliveriesReleasedInReverseArriveInReverseCreationOrder() async throws {
        let sim = try StillSimulator()
        let client = sim.client
        let listener = try WebhookListener()
        let endpoint = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        let hold = try await client.control("POST", "/_sim/webhooks/hold")
        #expect(hold.status == 200, "\(hold)")
        #expect(hold.json["holding"] as? Bool == true)
        #expect(int(hold.json["held"]) == 0)

        for _ in 0..<3 { _ = try await client.customer() }
        let created = try await eventIds(client, type: "customer.created")
        #expect(created.count == 3)
        let held = try await client.control("GET", "/_sim/webhooks/held")
        #expect(held.data.map { $0["event"] as? String ?? "" } == created)
        #expect(held.data.map { $0["type"] as? String ?? "" } == Array(repeating: "customer.created", count: 3))
        #expect(held.data.map { $0["endpoint"] as? String ?? "" } == Array(repeating: endpoint.id, count: 3))
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(listener.requests.isEmpty, "nothing is sent while held")
        #expect(try await client.control("GET", "/_sim/deliveries").data.isEmpty)

        let refused = try await client.control("POST", "/_sim/webhooks/release", json: #"{"order":"sideways"}"#)
        #expect(refused.status == 400)
        #expect(refused.error["param"] as? String == "order")

        let released = try await client.control("POST", "/_sim/webhooks/release", json: #"{"order":"reverse"}"#)
        #expect(released.status == 200, "\(released)")
        #expect(int(released.json["released"]) == 3)
        #expect(released.json["order"] as? String == "reverse")
        #expect(await eventually { listener.requests.count >= 3 })
        #expect(try received(listener).map(\.eventId) == created.reversed())
        #expect(try await client.control("GET", "/_sim/webhooks/held").data.isEmpty)
        let log = try await client.control("GET", "/_sim/deliveries")
        #expect(log.data.map { $0["event"] as? String ?? "" } == created.reversed())

        // Releasing stops holding: the next event goes straight out.
        _ = try await client.customer()
        let fourth = try #require(try await eventIds(client, type: "customer.created").last)
        #expect(await eventually { listener.requests.count >= 4 })
        #expect(try received(listener).map(\.eventId) == created.reversed() + [fourth])
    }

    @Test func discardedDeliveriesAreNeverSent() async throws {
        let sim = try StillSimulator()
        let client = sim.client
        let listener = try WebhookListener()
        _ = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        _ = try await client.control("POST", "/_sim/webhooks/hold")
        _ = try await client.customer()
        _ = try await client.customer()
        #expect(try await client.control("GET", "/_sim/webhooks/held").data.count == 2)

        let discarded = try await client.control("POST", "/_sim/webhooks/discard")
        #expect(discarded.status == 200, "\(discarded)")
        #expect(int(discarded.json["discarded"]) == 2)
        #expect(try await client.control("GET", "/_sim/webhooks/held").data.isEmpty)

        // Holding stopped; the one delivery thread sends in order, so once this later event has
        // arrived, a discarded one that was still going to be sent would have arrived first.
        _ = try await client.customer()
        let third = try #require(try await eventIds(client, type: "customer.created").last)
        #expect(await eventually { !listener.requests.isEmpty })
        try await Task.sleep(nanoseconds: 300_000_000)
        #expect(try received(listener).map(\.eventId) == [third])
        #expect(try await client.control("GET", "/_sim/deliveries").data.map { $0["event"] as? String ?? "" } == [third])
    }

    @Test func resetClearsHeldDeliveriesAndTheHold() async throws {
        let sim = try StillSimulator()
        let client = sim.client
        let listener = try WebhookListener()
        _ = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        _ = try await client.control("POST", "/_sim/webhooks/hold")
        _ = try await client.customer()
        #expect(try await client.control("GET", "/_sim/webhooks/held").data.count == 1)
        #expect(try await client.control("POST", "/_sim/reset").status == 200)
        #expect(try await client.control("GET", "/_sim/webhooks/held").data.isEmpty)

        _ = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        _ = try await client.customer()
        let event = try #require(try await eventIds(client, type: "customer.created").last)
        #expect(await eventually { !listener.requests.isEmpty }, "no longer holding after reset")
        #expect(try received(listener).map(\.eventId) == [event])
        let released = try await client.control("POST", "/_sim/webhooks/release")
        #expect(int(released.json["released"]) == 0)
    }

    @Test func anEventDeliveredAgainTwiceLateAndWithAnOldSignature() async throws {
        let sim = try StillSimulator()
        let client = sim.client
        let listener = try WebhookListener()
        let other = try WebhookListener()
        let endpoint = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=customer.created")
        let secret = try #require(endpoint.json["secret"] as? String)
        let invoicesOnly = try await client.post("/v1/webhook_endpoints", "url=\(other.url)&enabled_events[]=invoice.paid")
        let otherSecret = try #require(invoicesOnly.json["secret"] as? String)
        let clock = try await client.control("POST", "/_sim/clock", json: #"{"advance":0}"#)
        let now = try #require(int(clock.json["now"]))
        #expect(now == StillSimulator.now)

        _ = try await client.customer()
        let event = try #require(try await eventIds(client, type: "customer.created").first)
        #expect(await eventually { listener.requests.count >= 1 })
        let original = try #require(try received(listener).first)
        #expect(original.eventId == event)
        #expect(original.signedAt == now, "a normal delivery is signed now")

        let twice = try await client.control("POST", "/_sim/events/\(event)/deliver", json: #"{"times":2}"#)
        #expect(twice.status == 200, "\(twice)")
        #expect(twice.json["event"] as? String == event)
        #expect(int(twice.json["queued"]) == 2)
        #expect(await eventually { listener.requests.count >= 3 })
        let repeats = try received(listener)
        #expect(repeats.map(\.eventId) == [event, event, event])
        #expect(repeats.map(\.body) == Array(repeating: original.body, count: 3), "the same event body each time")
        #expect(repeats.map(\.signedAt) == [now, now, now])

        let old = try await client.control("POST", "/_sim/events/\(event)/deliver", json: #"{"signature_age":400}"#)
        #expect(int(old.json["queued"]) == 1)
        #expect(await eventually { listener.requests.count >= 4 })
        let stale = try #require(try received(listener).last)
        #expect(stale.eventId == event)
        #expect(stale.signedAt == now - 400)
        #expect(stale.v1 == WebhookSignature.v1(secret: secret, timestamp: now - 400, body: stale.body))
        #expect(stale.v1 != WebhookSignature.v1(secret: secret, timestamp: now, body: stale.body))

        // Named, an endpoint gets the event whatever its enabled_events; the others get nothing.
        let started = Date()
        let named = try await client.control("POST", "/_sim/events/\(event)/deliver",
                                             json: #"{"endpoint":"\#(invoicesOnly.id)","delay_ms":300}"#)
        #expect(int(named.json["queued"]) == 1)
        #expect(await eventually { !other.requests.isEmpty })
        #expect(Date().timeIntervalSince(started) >= 0.3, "sent after delay_ms")
        let late = try #require(try received(other).first)
        #expect(late.eventId == event)
        #expect(late.v1 == WebhookSignature.v1(secret: otherSecret, timestamp: now, body: late.body))
        #expect(listener.requests.count == 4)

        // The simulator's clock moves object times, not signatures: the receiver checks them
        // against real time, as Stripe's are.
        _ = try await client.control("POST", "/_sim/clock", json: #"{"advance":1000}"#)
        _ = try await client.control("POST", "/_sim/events/\(event)/deliver", json: #"{"signature_age":10}"#)
        #expect(await eventually { listener.requests.count >= 5 })
        #expect(try received(listener).last?.signedAt == now - 10)

        let log = try await client.control("GET", "/_sim/deliveries").data
        #expect(log.map { int($0["signed_at"]) ?? -1 } == [now, now, now, now - 400, now, now - 10])
        #expect(log.map { $0["endpoint"] as? String ?? "" }
                == [endpoint.id, endpoint.id, endpoint.id, endpoint.id, invoicesOnly.id, endpoint.id])
        #expect(log.allSatisfy { int($0["attempt"]) == 1 && int($0["status"]) == 200 && $0["succeeded"] as? Bool == true })

        let unknown = try await client.control("POST", "/_sim/events/evt_nothing/deliver")
        #expect(unknown.status == 404)
        #expect(unknown.error["code"] as? String == "resource_missing")
        #expect(unknown.error["message"] as? String == "No such event: 'evt_nothing'")
        let tooMany = try await client.control("POST", "/_sim/events/\(event)/deliver", json: #"{"times":11}"#)
        #expect(tooMany.status == 400)
        #expect(tooMany.error["param"] as? String == "times")
        let noEndpoint = try await client.control("POST", "/_sim/events/\(event)/deliver", json: #"{"endpoint":"we_nothing"}"#)
        #expect(noEndpoint.status == 404)
        #expect(noEndpoint.error["param"] as? String == "endpoint")
    }

    @Test func anExpiredCheckoutSessionEmitsTheEventAndCannotExpireAgain() async throws {
        let sim = try StillSimulator()
        let client = sim.client
        let listener = try WebhookListener()
        _ = try await client.post("/v1/webhook_endpoints", "url=\(listener.url)&enabled_events[]=checkout.session.expired")
        let customer = try await client.customer()
        let session = try await client.post("/v1/checkout/sessions",
                                            "mode=setup&customer=\(customer)&currency=eur&success_url=https://example.com/ok&cancel_url=https://example.com/cancel")
        #expect(session.status == 200, "\(session)")
        #expect(session.json["success_url"] as? String == "https://example.com/ok")
        #expect(session.json["cancel_url"] as? String == "https://example.com/cancel")
        let pageURL = try #require(session.json["url"] as? String)
        #expect(pageURL == "\(client.base)/_sim/pages/checkout/\(session.id)")

        let page = try await client.get("/_sim/pages/checkout/\(session.id)")
        let text = String(decoding: page.body, as: UTF8.self)
        #expect(text.contains("Complete it with POST /_sim/checkout/sessions/\(session.id)/complete."))
        #expect(text.contains("\nCancel: https://example.com/cancel\n"))

        let expired = try await client.control("POST", "/_sim/checkout/sessions/\(session.id)/expire")
        #expect(expired.status == 200, "\(expired)")
        #expect(expired.json["status"] as? String == "expired")
        #expect(expired.json["url"] is NSNull)
        let read = try await client.get("/v1/checkout/sessions/\(session.id)")
        #expect(read.json["status"] as? String == "expired")
        #expect(read.json["url"] is NSNull)

        let events = try await client.get("/v1/events?type=checkout.session.expired")
        #expect(events.data.count == 1)
        let object = try #require((events.data.first?["data"] as? [String: Any])?["object"] as? [String: Any])
        #expect(object["id"] as? String == session.id)
        #expect(object["status"] as? String == "expired")
        #expect(await eventually { !listener.requests.isEmpty })
        #expect(try received(listener).map(\.type) == ["checkout.session.expired"])
        #expect(try received(listener).map(\.eventId) == [events.data.first?["id"] as? String ?? ""])

        let again = try await client.control("POST", "/_sim/checkout/sessions/\(session.id)/expire")
        #expect(again.status == 400)
        #expect(again.error["message"] as? String == "Only an open Checkout Session can expire; \(session.id) is expired.")
        #expect(try await client.control("POST", "/_sim/checkout/sessions/\(session.id)/complete").status == 400)
        #expect(try await client.control("POST", "/_sim/checkout/sessions/cs_test_nothing/expire").status == 404)
        #expect(try await client.get("/v1/events?type=checkout.session.expired").data.count == 1)
    }
}
