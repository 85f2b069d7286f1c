import Foundation
import Testing
@testable import Stripe

@Suite struct PacingTests {
    @Test func tenCallsAtFivePerSecondTakeNineIntervals() throws {
        let transport = FakeTransport(json(#"{"id":"we_1","url":"https://x.test/hook","enabled_events":[],"status":"enabled","created":1,"livemode":false,"metadata":{}}"#))
        let clock = VirtualClock()
        let client = try makeClient(transport, clock: clock, requestsPerSecond: 5)
        for index in 0..<10 {
            _ = try client.updateWebhookEndpoint("we_1", WebhookEndpointUpdate(disabled: false), idempotencyKey: "k\(index)")
        }
        // The first goes at once, each next one 1/5 s later: 9 x 0.2 = 1.8 s.
        #expect(abs(clock.elapsed - 1.8) < 1e-9)
        #expect(clock.sleeps.count == 9)
        #expect(clock.sleeps.allSatisfy { abs($0 - 0.2) < 1e-9 })
    }

    @Test func anEndpointIsAnOperationWhateverItsIds() {
        #expect(Endpoint.name(.post, "/v1/invoices/in_1/finalize") == "POST /v1/invoices/{id}/finalize")
        #expect(Endpoint.name(.post, "/v1/invoices/in_2/finalize") == "POST /v1/invoices/{id}/finalize")
        #expect(Endpoint.name(.post, "/v1/invoices/in_2/add_lines") == "POST /v1/invoices/{id}/add_lines")
        #expect(Endpoint.name(.post, "/v1/invoices") == "POST /v1/invoices")
        #expect(Endpoint.name(.get, "/v1/invoices/in_1") == "GET /v1/invoices/{id}")
        #expect(Endpoint.name(.post, "/v1/invoices/in_1") == "POST /v1/invoices/{id}")
        #expect(Endpoint.name(.get, "/v1/invoices/in_1/lines") == "GET /v1/invoices/{id}/lines")
        #expect(Endpoint.name(.post, "/v1/invoices/in_1/lines/il_9") == "POST /v1/invoices/{id}/lines/{id}")
        #expect(Endpoint.name(.get, "/v1/customers/cus_1/payment_methods") == "GET /v1/customers/{id}/payment_methods")
        #expect(Endpoint.name(.post, "/v1/tax/transactions/create_from_calculation") == "POST /v1/tax/transactions/create_from_calculation")
        #expect(Endpoint.name(.get, "/v1/tax/calculations/taxcalc_1/line_items") == "GET /v1/tax/calculations/{id}/line_items")
        #expect(Endpoint.name(.post, "/v1/checkout/sessions") == "POST /v1/checkout/sessions")
        #expect(Endpoint.name(.post, "/v1/webhook_endpoints/we_1") == "POST /v1/webhook_endpoints/{id}")
    }

    @Test func oneEndpointGoesAtItsOwnRateUnderAWiderGlobalOne() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let clock = VirtualClock()
        let client = try makeClient(transport, clock: clock, requestsPerSecond: 100, endpointRequestsPerSecond: 25)
        for index in 0..<26 { _ = try client.finalizeInvoice("in_\(index)", idempotencyKey: "f\(index)") }
        // Different ids, one endpoint: 25 intervals of 1/25 s = 1 s.
        #expect(abs(clock.elapsed - 1.0) < 1e-9)
        #expect(clock.sleeps.allSatisfy { abs($0 - 0.04) < 1e-9 })
    }

    @Test func anotherEndpointTakesAFreeGlobalSlotWhileOneWaits() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        // Frozen: every call asks at the same instant, so each wait is the slot it was given.
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, requestsPerSecond: 10, endpointRequestsPerSecond: 2)
        _ = try client.finalizeInvoice("in_1", idempotencyKey: "f1")   // slot 0
        _ = try client.finalizeInvoice("in_2", idempotencyKey: "f2")   // its endpoint's next: 0.5
        _ = try client.retrieveInvoice("in_1")                           // the first free global slot: 0.1
        _ = try client.voidInvoice("in_1", idempotencyKey: "v1")        // 0.2
        _ = try client.finalizeInvoice("in_3", idempotencyKey: "f3")   // its endpoint's next: 1.0
        #expect(zip(clock.sleeps, [0.5, 0.1, 0.2, 1.0]).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(clock.sleeps.count == 4)
    }

    /// Four threads, three endpoints, on virtual time: every send time is checked against both
    /// limits, and the run ends when the tighter limit says it can.
    @Test(arguments: [(global: 22.0, endpoint: 22.0), (global: 90.0, endpoint: 22.0), (global: 25.0, endpoint: 10.0)])
    func concurrentCallersNeverExceedEitherLimitAndSaturateTheTighter(limits: (global: Double, endpoint: Double)) throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, requestsPerSecond: limits.global, endpointRequestsPerSecond: limits.endpoint)
        let pacer = client.pacer
        let endpoints = ["POST /v1/invoices", "POST /v1/invoices/{id}/add_lines", "POST /v1/invoices/{id}/finalize"]
        let perEndpoint = 60
        let recorded = Sends()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for call in 0..<(perEndpoint * endpoints.count / 4) {
                let endpoint = endpoints[(thread + call) % endpoints.count]
                let wait = pacer.reserve(endpoint)!
                recorded.append(endpoint, 1_000 + wait)
            }
        }
        let sends = recorded.all
        let gap = 1 / limits.global, endpointGap = 1 / limits.endpoint
        let times = sends.map(\.time).sorted()
        #expect(times.count == perEndpoint * endpoints.count)
        for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= gap - 1e-9) }
        for endpoint in endpoints {
            let own = sends.filter { $0.endpoint == endpoint }.map(\.time).sorted()
            for (a, b) in zip(own, own.dropFirst()) { #expect(b - a >= endpointGap - 1e-9) }
        }
        // In any one-second window: at most the rate and one, as Stripe counts.
        for start in times {
            #expect(Double(times.filter { $0 >= start && $0 < start + 1 }.count) <= limits.global + 1)
        }
        // Saturated: the last send is where the tighter of the two limits puts it, give or take
        // the slots the threads' order of asking leaves unused. That order is the scheduler's: on
        // a busy machine one thread can ask many times in a row, so the slack allowed is a tenth
        // of the run (a pacer that wasted every other slot would take twice the floor).
        let floor = max(Double(times.count - 1) * gap, Double(perEndpoint - 1) * endpointGap)
        let span = times.last! - times.first!
        #expect(span >= floor - 1e-9)
        #expect(span - floor < floor / 10)
    }

    @Test func aCallWhoseTurnComesAfterItsDeadlineIsNotSent() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, policy: instantPolicy(deadline: 0.5), requestsPerSecond: 1)
        _ = try client.voidInvoice("in_1", idempotencyKey: "v1")
        let error = stripeError { () throws(StripeError) in try client.voidInvoice("in_2", idempotencyKey: "v2") }
        #expect(error?.kind == .deadline)
        #expect(error?.attempts == 0)
        #expect(error?.description == "gave up on POST /v1/invoices/in_2/void before sending it: its turn under stripe.requestsPerSecond or stripe.endpointRequestsPerSecond came after the deadline")
        #expect(transport.requests.count == 1)
    }

    @Test func copiesOfAClientShareItsPacing() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("account")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, requestsPerSecond: 10)
        var tagged = client
        tagged.logger[metadataKey: "invoice.id"] = "7"
        _ = try client.retrieveAccount()
        _ = try tagged.retrieveAccount()
        #expect(clock.sleeps.count == 1)
        #expect(abs(clock.sleeps[0] - 0.1) < 1e-9)
    }
}

/// Send times recorded from several threads.
private final class Sends: @unchecked Sendable {
    private let lock = NSLock()
    private var sends: [(endpoint: String, time: Double)] = []

    func append(_ endpoint: String, _ time: Double) { lock.withLock { sends.append((endpoint, time)) } }

    var all: [(endpoint: String, time: Double)] { lock.withLock { sends } }
}
