import Foundation
import Testing
@testable import Stripe

@Suite struct RetryTests {
    let invoice = InvoiceCreate(customer: "cus_1")

    func invoiceResponse() throws -> HTTPResponse {
        HTTPResponse(status: 200, headers: ["Request-Id": "req_ok"], body: try fixture("invoice"))
    }

    @Test func a429ThenSuccessSendsTheSameIdempotencyKeyAndBodyAgain() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "Too many requests", code: "rate_limit"), status: 429),
                                      try invoiceResponse())
        let clock = VirtualClock()
        let client = try makeClient(transport, clock: clock)
        let created = try client.createInvoice(invoice, idempotencyKey: "tollbooth-invoice-7")
        #expect(created.id == "in_1Pgc6tB7WZ01zgkWu9fdqL6I")
        let requests = transport.requests
        #expect(requests.count == 2)
        #expect(requests.map { $0.header("Idempotency-Key") } == ["tollbooth-invoice-7", "tollbooth-invoice-7"])
        #expect(requests[0].body == requests[1].body)
        // The first wait's cap is 0.5 s; the test jitter takes all of it.
        #expect(clock.sleeps == [0.5])
    }

    @Test func waitsDoubleUpToTheCapWithFullJitter() throws {
        let transport = FakeTransport(json(errorBody(type: "api_error", message: "boom"), status: 500))
        let clock = VirtualClock()
        let client = try makeClient(transport, clock: clock, policy: instantPolicy(maxAttempts: 7, deadline: 1_000))
        let error = stripeError { () throws(StripeError) in try client.retrieveInvoice("in_1") }
        #expect(error?.status == 500)
        #expect(error?.attempts == 7)
        #expect(transport.requests.count == 7)
        // Caps 0.5, 1, 2, 4, 8, then held at 8.
        #expect(clock.sleeps == [0.5, 1, 2, 4, 8, 8])

        let halfJitter = RetryPolicy(initialDelay: 0.5, maxDelay: 8, jitter: { $0 / 2 })
        #expect((1...6).map(halfJitter.delay(after:)) == [0.25, 0.5, 1, 2, 4, 4])
        let random = RetryPolicy(initialDelay: 0.5, maxDelay: 8)
        for attempt in 1...6 { #expect((0...min(8, 0.5 * pow(2, Double(attempt - 1)))).contains(random.delay(after: attempt))) }
    }

    @Test func shouldRetryFalseStopsARetryableStatus() throws {
        let transport = FakeTransport(json(errorBody(type: "api_error", message: "unavailable"), status: 503, headers: ["Stripe-Should-Retry": "false"]))
        let client = try makeClient(transport)
        let error = stripeError { () throws(StripeError) in try client.createInvoice(invoice, idempotencyKey: "k") }
        #expect(error?.status == 503)
        #expect(transport.requests.count == 1)
    }

    @Test func shouldRetryTrueRetriesAnAnswerThatIsNotRetryableByItself() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "try again"), status: 400, headers: ["Stripe-Should-Retry": "true"]),
                                      try invoiceResponse())
        let client = try makeClient(transport)
        _ = try client.createInvoice(invoice, idempotencyKey: "k")
        #expect(transport.requests.count == 2)
    }

    @Test func a409LockTimeoutIsRetriedButOther409sAreNot() throws {
        let lock = FakeTransport(json(errorBody(type: "invalid_request_error", message: "locked", code: "lock_timeout"), status: 409),
                                 try invoiceResponse())
        _ = try makeClient(lock).createInvoice(invoice, idempotencyKey: "k")
        #expect(lock.requests.count == 2)

        let conflict = FakeTransport(json(errorBody(type: "idempotency_error", message: "Keys for idempotent requests can only be used with the same parameters they were first used with."), status: 409))
        let error = stripeError { () throws(StripeError) in try makeClient(conflict).createInvoice(invoice, idempotencyKey: "k") }
        #expect(conflict.requests.count == 1)
        #expect(error?.type == "idempotency_error")
        #expect(error?.isTransient == false)
    }

    @Test func clientErrorsAreNotRetried() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "No such customer: 'cus_x'", code: "resource_missing", param: "customer"), status: 400))
        let error = stripeError { () throws(StripeError) in try makeClient(transport).createInvoice(invoice, idempotencyKey: "k") }
        #expect(transport.requests.count == 1)
        #expect(error?.code == "resource_missing")
        #expect(error?.param == "customer")
    }

    @Test func transientNetworkFailuresAreRetriedUnderTheSameKey() throws {
        for kind in [NetworkError.Kind.connectionRefused, .connectionReset, .timeout, .emptyReply] {
            let transport = FakeTransport([.failure(NetworkError(kind)), .success(try invoiceResponse())])
            _ = try makeClient(transport).createInvoice(invoice, idempotencyKey: "tollbooth-invoice-9")
            #expect(transport.requests.count == 2, "\(kind)")
            #expect(Set(transport.requests.map { $0.header("Idempotency-Key") }) == ["tollbooth-invoice-9"])
        }
    }

    @Test func aHostThatDoesNotResolveIsNotRetried() throws {
        let transport = FakeTransport([.failure(NetworkError(.hostNotFound, detail: "Could not resolve host: api.stripe.test"))])
        let error = stripeError { () throws(StripeError) in try makeClient(transport).retrieveAccount() }
        #expect(transport.requests.count == 1)
        #expect(error?.kind == .network(.hostNotFound))
        #expect(error?.description.contains("check stripe.apiBase") == true)
    }

    @Test func theLastFailureIsThrownAfterMaxAttempts() throws {
        let transport = FakeTransport([.failure(NetworkError(.connectionRefused, detail: "Failed to connect to 127.0.0.1 port 12111"))])
        let error = stripeError { () throws(StripeError) in
            try makeClient(transport, policy: instantPolicy(maxAttempts: 3)).retrieveAccount()
        }
        #expect(transport.requests.count == 3)
        #expect(error?.kind == .network(.connectionRefused))
        #expect(error?.attempts == 3)
        #expect(error?.isTransient == true)
        #expect(error?.description == "could not reach Stripe for GET /v1/account after 3 attempts: connection refused (Failed to connect to 127.0.0.1 port 12111); check stripe.apiBase and the network")
    }

    @Test func theDeadlineStopsRetriesBeforeAWaitWouldPassIt() throws {
        let transport = FakeTransport(json(errorBody(type: "api_error", message: "busy"), status: 503, headers: ["Request-Id": "req_503"]))
        let clock = VirtualClock()
        // Waits of 0.5, 1 and 2 s fit in 4 s; the fourth, 4 s, would end past it.
        let client = try makeClient(transport, clock: clock, policy: instantPolicy(maxAttempts: 10, deadline: 4))
        let error = stripeError { () throws(StripeError) in try client.createInvoice(invoice, idempotencyKey: "k") }
        #expect(transport.requests.count == 4)
        #expect(clock.sleeps == [0.5, 1, 2])
        #expect(error?.kind == .deadline)
        #expect(error?.status == 503)
        #expect(error?.requestId == "req_503")
        #expect(error?.isTransient == true)
        #expect(error?.description == "gave up on POST /v1/invoices after 4 attempts at its deadline; the last attempt: Stripe refused POST /v1/invoices (HTTP 503, api_error): busy (request req_503)")
    }

    @Test func eachAttemptGetsAtMostTheTimeLeftBeforeTheDeadline() throws {
        let transport = FakeTransport([.failure(NetworkError(.timeout)), .success(try invoiceResponse())])
        let policy = RetryPolicy(maxAttempts: 3, deadline: 10, attemptTimeout: 30, initialDelay: 2, maxDelay: 8, jitter: { $0 })
        _ = try makeClient(transport, policy: policy).createInvoice(invoice, idempotencyKey: "k")
        #expect(transport.requests.map(\.timeout) == [10, 8])
    }

    @Test func aBadIdempotencyKeyIsRefusedBeforeAnythingIsSent() throws {
        let transport = FakeTransport(try invoiceResponse())
        let client = try makeClient(transport)
        let tooLong = String(repeating: "k", count: 256)
        for key in ["", tooLong, "line\r\nInjected: 1"] {
            let error = stripeError { () throws(StripeError) in try client.createInvoice(invoice, idempotencyKey: key) }
            #expect(error?.kind == .invalidInput)
        }
        #expect(transport.requests.isEmpty)
        _ = try client.createInvoice(invoice, idempotencyKey: String(repeating: "k", count: 255))
        #expect(transport.requests.count == 1)
    }
}
