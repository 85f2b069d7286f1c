import Billing
import Foundation
import Stripe
import TestSupport
import Testing

/// Idempotency-Key replay and the client's retries, against the simulator's injected faults:
/// a call that reached the simulator is never done twice, whatever happened to its answer.
@Suite struct IdempotencyAndRetryTests {
    @Test func theSameKeyAndBodyTwiceIsOneObject() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let params = CustomerCreate(email: "once@example.com", metadata: ["tollbooth_customer": "c1"])
        let first = try stripe.createCustomer(params, idempotencyKey: "tollbooth-customer-c1")
        let second = try stripe.createCustomer(params, idempotencyKey: "tollbooth-customer-c1")
        #expect(second.id == first.id)
        #expect(second == first)
        #expect(try stripe.allCustomers().map(\.id) == [first.id], "the simulator holds one customer")
        let posts = try sim.requests(method: "POST", path: "/v1/customers")
        #expect(posts.map(\.replayed) == [false, true])
        #expect(posts.allSatisfy { $0.idempotencyKey == "tollbooth-customer-c1" && $0.status == 200 })
    }

    @Test func theSameKeyWithAnotherBodyIsAnIdempotencyError() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "key@example.com"), idempotencyKey: "customer-key")
        let invoice = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur, metadata: ["tollbooth_invoice": "i1"]),
                                               idempotencyKey: "tollbooth-invoice-i1")
        let error = stripeError { () throws(StripeError) in
            try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur, metadata: ["tollbooth_invoice": "i2"]),
                                     idempotencyKey: "tollbooth-invoice-i1")
        }
        #expect(error?.kind == .api)
        #expect(error?.status == 400)
        #expect(error?.type == "idempotency_error")
        #expect(error?.code == nil, "Stripe's idempotency_error carries no code")
        #expect(error?.message.contains("'tollbooth-invoice-i1'") == true)
        #expect(error?.attempts == 1, "not retried: the same request cannot succeed")
        #expect(error?.isTransient == false)
        #expect(try stripe.allInvoices().map(\.id) == [invoice.id], "the simulator holds one invoice")
    }

    @Test func a500BeforeTheWorkIsRetriedAndMakesOneObject() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        try sim.fault("500", method: "POST", path: "/v1/customers")
        let customer = try stripe.createCustomer(CustomerCreate(email: "retry@example.com"), idempotencyKey: "customer-500")
        #expect(try stripe.allCustomers().map(\.id) == [customer.id])
        let posts = try sim.requests(method: "POST", path: "/v1/customers")
        #expect(posts.map(\.status) == [500, 200])
        #expect(posts.map(\.fault) == ["500", nil])
        #expect(posts.allSatisfy { $0.idempotencyKey == "customer-500" }, "the retry carries the same key")
    }

    @Test func a500AfterTheWorkIsRetriedAndReplaysTheStoredAnswer() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "after@example.com"), idempotencyKey: "customer-after")
        try sim.fault("500", method: "POST", path: "/v1/invoices", after: true)
        let invoice = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-after")
        #expect(try stripe.allInvoices().map(\.id) == [invoice.id], "the work done before the 500 was not done again")
        let posts = try sim.requests(method: "POST", path: "/v1/invoices")
        #expect(posts.map(\.status) == [500, 200])
        #expect(posts.map(\.replayed) == [false, true])
    }

    @Test func aConnectionDroppedAfterTheWorkIsRetriedUnderTheSameKey() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "drop@example.com"), idempotencyKey: "customer-drop")
        try sim.fault("drop", method: "POST", path: "/v1/invoices")
        let invoice = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur, metadata: ["tollbooth_invoice": "i1"]),
                                               idempotencyKey: "tollbooth-invoice-i1")
        #expect(invoice.metadata == ["tollbooth_invoice": "i1"])
        #expect(try stripe.allInvoices().map(\.id) == [invoice.id], "exactly one invoice")
        let posts = try sim.requests(method: "POST", path: "/v1/invoices")
        #expect(posts.map(\.status) == [0, 200], "the first answer was cut off")
        #expect(posts.map(\.fault) == ["drop", nil])
        #expect(posts.map(\.replayed) == [false, true], "the retry got the stored invoice back")
        #expect(posts.allSatisfy { $0.idempotencyKey == "tollbooth-invoice-i1" })

        // An item dropped the same way: still one item on the invoice, one line.
        try sim.fault("drop", method: "POST", path: "/v1/invoiceitems")
        let item = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: invoice.id, amount: 1_850, currency: .eur),
                                                idempotencyKey: "tollbooth-line-l1")
        #expect(try stripe.allInvoiceItems(InvoiceItemListQuery(invoice: invoice.id)).map(\.id) == [item.id])
        #expect(try stripe.retrieveInvoice(invoice.id).total == 1_850, "one line of 1850, not two")
    }

    @Test func aDroppedReadIsRetried() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        try sim.fault("drop", method: "GET", path: "/v1/account")
        #expect(try stripe.retrieveAccount().id == defaultAccount)
        #expect(try sim.requests(method: "GET", path: "/v1/account").map(\.status) == [0, 200])
    }

    @Test func a429IsRetried() throws {
        let sim = try Simulator()
        let recorder = LogRecorder()
        let stripe = try sim.client(logger: recorder.logger)
        try sim.fault("429", method: "POST", path: "/v1/customers", count: 2)
        let customer = try stripe.createCustomer(CustomerCreate(email: "limited@example.com"), idempotencyKey: "customer-429")
        #expect(try stripe.allCustomers().map(\.id) == [customer.id])
        #expect(try sim.requests(method: "POST", path: "/v1/customers").map(\.status) == [429, 429, 200])
        let retries = recorder.records.filter { $0.level == .notice }
        #expect(retries.count == 2, "each retry is logged at notice")
        #expect(retries.allSatisfy { $0.metadata["stripe.path"] == "/v1/customers" && $0.message.contains("429") })
    }

    @Test func faultsOnEveryAttemptEndTheCallWithTheLastAnswer() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        try sim.fault("500", method: "POST", path: "/v1/customers", count: 4)
        let error = stripeError { () throws(StripeError) in
            try stripe.createCustomer(CustomerCreate(email: "never@example.com"), idempotencyKey: "customer-never")
        }
        #expect(error?.kind == .api)
        #expect(error?.status == 500)
        #expect(error?.type == "api_error")
        #expect(error?.attempts == 4, "RetryPolicy's default: at most 4 sends")
        #expect(error?.isTransient == true, "a later re-run may succeed as it is")
        #expect(try sim.requests(method: "POST", path: "/v1/customers").count == 4)
        #expect(try stripe.allCustomers().isEmpty, "each 500 came before the work")
        // The fault is used up; the same key now goes through once.
        _ = try stripe.createCustomer(CustomerCreate(email: "never@example.com"), idempotencyKey: "customer-never")
        #expect(try stripe.allCustomers().count == 1)
    }

    @Test func aCallThatTimesOutWhileTheWorkIsDoneIsRetriedUnderTheSameKey() throws {
        let sim = try Simulator()
        let stripe = try sim.client(retry: RetryPolicy(attemptTimeout: 0.5))
        let customer = try stripe.createCustomer(CustomerCreate(email: "slow@example.com"), idempotencyKey: "customer-slow")
        // The simulator holds the first send 1.5 s, then does the work for nobody.
        try sim.control("POST", "faults", ["kind": "delay", "delay_ms": 1_500, "method": "POST", "path": "/v1/invoices"])
        let invoice = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-slow")
        // Whichever send the simulator served first made the invoice; wait for the held one.
        var posts: [LoggedRequest] = []
        for _ in 0..<100 where !posts.contains(where: { $0.fault == "delay" }) {
            Thread.sleep(forTimeInterval: 0.05)
            posts = try sim.requests(method: "POST", path: "/v1/invoices")
        }
        #expect(posts.count >= 2, "the held send and at least one retry")
        #expect(posts.allSatisfy { $0.idempotencyKey == "invoice-slow" && $0.status == 200 })
        #expect(posts.filter { !$0.replayed }.count == 1, "one send made the invoice, the others got it back")
        #expect(try stripe.allInvoices().map(\.id) == [invoice.id])
    }

    @Test func aSimulatorThatIsGoneIsANetworkErrorAfterEverySend() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        sim.process.terminate()
        sim.process.waitUntilExit()
        let error = stripeError { () throws(StripeError) in try stripe.retrieveAccount() }
        #expect(error?.kind == .network(.connectionRefused))
        #expect(error?.status == nil)
        #expect(error?.attempts == 4)
        #expect(error?.isTransient == true)
        #expect(error?.description.contains("check stripe.apiBase") == true, "\(error.map { "\($0)" } ?? "")")
    }
}
