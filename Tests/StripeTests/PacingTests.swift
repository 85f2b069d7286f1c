import Foundation
import Testing
@testable import Stripe

@Suite struct PacingTests {
    @Test func tenWritesAtFivePerSecondTakeNineIntervals() throws {
        let transport = FakeTransport(json(#"{"id":"we_1","url":"https://x.test/hook","enabled_events":[],"status":"enabled","created":1,"livemode":false,"metadata":{}}"#))
        let clock = VirtualClock()
        let client = try makeClient(transport, clock: clock, writesPerSecond: 5)
        for index in 0..<10 {
            _ = try client.updateWebhookEndpoint("we_1", WebhookEndpointUpdate(disabled: false), idempotencyKey: "k\(index)")
        }
        // The first goes at once, each next one 1/5 s later: 9 x 0.2 = 1.8 s.
        #expect(abs(clock.elapsed - 1.8) < 1e-9)
        #expect(clock.sleeps.count == 9)
        #expect(clock.sleeps.allSatisfy { abs($0 - 0.2) < 1e-9 })
    }

    @Test func aBurstGoesAtOnceThenTheRateHolds() {
        let clock = VirtualClock(frozen: true)
        let bucket = TokenBucket(rate: 10, burst: 3, clock: clock)
        let waits = (0..<6).map { _ in bucket.reserve() }
        // Three tokens in the bucket, then one every 0.1 s.
        #expect(zip(waits, [0, 0, 0, 0.1, 0.2, 0.3]).allSatisfy { abs($0 - $1) < 1e-9 })
    }

    @Test func anIdleBucketRefillsOnlyUpToItsBurst() {
        let clock = VirtualClock()
        let bucket = TokenBucket(rate: 10, burst: 2, clock: clock)
        clock.sleep(60)
        #expect(bucket.reserve() == 0)
        #expect(bucket.reserve() == 0)
        #expect(abs(bucket.reserve() - 0.1) < 1e-9)
    }

    @Test func readsAndWritesHaveSeparateBuckets() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, writesPerSecond: 2, readsPerSecond: 4)
        _ = try client.finalizeInvoice("in_1", idempotencyKey: "f1")
        _ = try client.finalizeInvoice("in_1", idempotencyKey: "f2")
        _ = try client.retrieveInvoice("in_1")
        _ = try client.retrieveInvoice("in_1")
        // The second write waits 1/2 s, the second read 1/4 s; the first read waits for no write.
        #expect(clock.sleeps == [0.5, 0.25])
    }

    @Test func concurrentCallersShareOneBucket() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoiceitem")))
        // Frozen: every caller asks at the same instant, so each wait is its place in the queue.
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, writesPerSecond: 20)
        let threads = 4, callsEach = 10
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for call in 0..<callsEach {
                let item = InvoiceItemCreate(customer: "cus_1", invoice: "in_1", amount: 100, currency: .usd)
                _ = try? client.createInvoiceItem(item, idempotencyKey: "item-\(thread)-\(call)")
            }
        }
        #expect(transport.requests.count == threads * callsEach)
        // 40 calls at 20/s: the first at once, then one every 0.05 s up to 39 x 0.05 = 1.95 s.
        let waits = clock.sleeps.sorted()
        #expect(waits.count == threads * callsEach - 1)
        for (index, wait) in waits.enumerated() { #expect(abs(wait - Double(index + 1) * 0.05) < 1e-9) }
    }

    @Test func aCallWhoseTurnComesAfterItsDeadlineIsNotSent() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, policy: instantPolicy(deadline: 0.5), writesPerSecond: 1)
        _ = try client.voidInvoice("in_1", idempotencyKey: "v1")
        let error = stripeError { () throws(StripeError) in try client.voidInvoice("in_2", idempotencyKey: "v2") }
        #expect(error?.kind == .deadline)
        #expect(error?.attempts == 0)
        #expect(error?.description == "gave up on POST /v1/invoices/in_2/void before sending it: its turn under stripe.writesPerSecond or stripe.readsPerSecond came after the deadline")
        #expect(transport.requests.count == 1)
    }

    @Test func copiesOfAClientShareItsBuckets() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("account")))
        let clock = VirtualClock(frozen: true)
        let client = try makeClient(transport, clock: clock, readsPerSecond: 10)
        var tagged = client
        tagged.logger[metadataKey: "invoice.id"] = "7"
        _ = try client.retrieveAccount()
        _ = try tagged.retrieveAccount()
        #expect(clock.sleeps == [0.1])
    }
}
