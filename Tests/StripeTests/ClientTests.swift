import Billing
import Foundation
import Logging
import TestSupport
import Testing
@testable import Stripe

@Suite struct ClientTests {
    @Test func aPostCarriesTheKeyVersionFormAndIdempotencyKey() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("customer")))
        let customer = try makeClient(transport).createCustomer(
            CustomerCreate(name: "Acme GmbH", email: "billing@acme.test", metadata: ["tollbooth_customer": "acme"]),
            idempotencyKey: "tollbooth-customer-acme")
        #expect(customer.id == "cus_QXg1o8vcGmoR32")
        let request = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.url == "https://api.stripe.com/v1/customers")
        #expect(request.header("Authorization") == "Bearer \(testKey)")
        #expect(request.header("Stripe-Version") == "2026-07-29.dahlia")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(request.header("Idempotency-Key") == "tollbooth-customer-acme")
        #expect(request.body == "name=Acme%20GmbH&email=billing%40acme.test&metadata%5Btollbooth_customer%5D=acme")
    }

    @Test func aGetSendsItsParametersAsAQueryAndNoBody() throws {
        let list = #"{"object":"list","url":"/v1/customers","has_more":false,"data":[\#(try fixtureText("customer"))]}"#
        let transport = FakeTransport(json(list))
        let page = try makeClient(transport).listCustomers(CustomerListQuery(email: "billing+eu@acme.test", page: Page(limit: 1)))
        #expect(page.data.map(\.id) == ["cus_QXg1o8vcGmoR32"])
        #expect(page.hasMore == false)
        let request = try #require(transport.requests.first)
        #expect(request.method == .get)
        #expect(request.url == "https://api.stripe.com/v1/customers?email=billing%2Beu%40acme.test&limit=1")
        #expect(request.body == nil)
        #expect(request.header("Idempotency-Key") == nil)
        #expect(request.header("Stripe-Version") == "2026-07-29.dahlia")
    }

    @Test func idsArePercentEncodedIntoThePath() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        _ = try makeClient(transport).finalizeInvoice("in_1/../../v1/customers", autoAdvance: true, idempotencyKey: "fin-7")
        let request = try #require(transport.requests.first)
        #expect(request.url == "https://api.stripe.com/v1/invoices/in_1%2F..%2F..%2Fv1%2Fcustomers/finalize")
        #expect(request.body == "auto_advance=true")
    }

    @Test func invoiceActionsPostToTheirPaths() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let client = try makeClient(transport)
        _ = try client.voidInvoice("in_1", idempotencyKey: "a")
        _ = try client.markInvoiceUncollectible("in_1", idempotencyKey: "b")
        _ = try client.payInvoice("in_1", InvoicePay(paidOutOfBand: true), idempotencyKey: "c")
        _ = try client.finalizeInvoice("in_1", idempotencyKey: "d")
        #expect(transport.requests.map(\.url) == [
            "https://api.stripe.com/v1/invoices/in_1/void", "https://api.stripe.com/v1/invoices/in_1/mark_uncollectible",
            "https://api.stripe.com/v1/invoices/in_1/pay", "https://api.stripe.com/v1/invoices/in_1/finalize",
        ])
        #expect(transport.requests.map(\.body) == ["", "", "paid_out_of_band=true", ""])
    }

    @Test func allInvoicesWalksEveryPageFromTheLastID() throws {
        let invoice = try fixtureText("invoice")
        func page(_ ids: [String], more: Bool) -> HTTPResponse {
            let items = ids.map { invoice.replacingOccurrences(of: "\"id\": \"in_1Pgc6tB7WZ01zgkWu9fdqL6I\"", with: "\"id\": \"\($0)\"") }
            return json(#"{"object":"list","url":"/v1/invoices","has_more":\#(more),"data":[\#(items.joined(separator: ","))]}"#)
        }
        let transport = FakeTransport(page(["in_a", "in_b"], more: true), page(["in_c", "in_d"], more: true), page(["in_e"], more: false))
        let invoices = try makeClient(transport).allInvoices(InvoiceListQuery(customer: "cus_1", status: .open, page: Page(limit: 2)))
        #expect(invoices.map(\.id) == ["in_a", "in_b", "in_c", "in_d", "in_e"])
        #expect(transport.requests.map(\.url) == [
            "https://api.stripe.com/v1/invoices?customer=cus_1&status=open&limit=2",
            "https://api.stripe.com/v1/invoices?customer=cus_1&status=open&limit=2&starting_after=in_b",
            "https://api.stripe.com/v1/invoices?customer=cus_1&status=open&limit=2&starting_after=in_d",
        ])
    }

    @Test func invoicesCreatedSinceATimeAreAskedForWithCreatedGte() throws {
        let transport = FakeTransport(json(#"{"object":"list","url":"/v1/invoices","has_more":false,"data":[]}"#))
        _ = try makeClient(transport).allInvoices(InvoiceListQuery(createdSince: 1_775_001_600, page: Page(limit: 100)))
        #expect(transport.requests.map(\.url) == ["https://api.stripe.com/v1/invoices?created%5Bgte%5D=1775001600&limit=100"])
    }

    @Test func invoiceLinesAndItemsAreListedByInvoice() throws {
        let lines = #"{"object":"list","url":"/v1/invoices/in_1/lines","has_more":false,"data":[\#(try fixtureText("line_item"))]}"#
        let items = #"{"object":"list","url":"/v1/invoiceitems","has_more":false,"data":[\#(try fixtureText("invoiceitem"))]}"#
        let transport = FakeTransport(json(lines), json(items))
        let client = try makeClient(transport)
        #expect(try client.allInvoiceLines(invoice: "in_1").map(\.id) == ["il_tmp_1Pgc6sB7WZ01zgkWrG16hkdl"])
        #expect(try client.allInvoiceItems(InvoiceItemListQuery(invoice: "in_1")).map(\.id) == ["ii_1Pgc6sB7WZ01zgkWrG16hkdl"])
        #expect(transport.requests.map(\.url) == [
            "https://api.stripe.com/v1/invoices/in_1/lines?limit=100",
            "https://api.stripe.com/v1/invoiceitems?invoice=in_1",
        ])
    }

    @Test func everyAttemptLogsMethodPathAttemptAndRequestID() throws {
        let recorder = LogRecorder()
        let transport = FakeTransport(json(errorBody(type: "api_error", message: "boom"), status: 500, headers: ["Request-Id": "req_1"]),
                                      try HTTPResponse(status: 200, headers: ["Request-Id": "req_2"], body: fixture("invoice")))
        var client = try makeClient(transport, logger: recorder.logger)
        client.logger[metadataKey: "invoice.id"] = "7"
        _ = try client.retrieveInvoice("in_1")
        let answers = recorder.records.filter { $0.message.hasPrefix("Stripe answered") }
        #expect(answers.map(\.message) == ["Stripe answered 500", "Stripe answered 200"])
        #expect(answers.map { $0.metadata["stripe.request_id"]?.description } == ["req_1", "req_2"])
        #expect(answers.map { $0.metadata["stripe.attempt"]?.description } == ["1", "2"])
        for record in answers {
            #expect(record.metadata["stripe.method"]?.description == "GET")
            #expect(record.metadata["stripe.path"]?.description == "/v1/invoices/in_1")
            #expect(record.metadata["invoice.id"]?.description == "7")
        }
        let retry = try #require(recorder.records.first { $0.level == .notice })
        #expect(retry.message == "Stripe call failed; retrying in 0.50 s: Stripe refused GET /v1/invoices/in_1 (HTTP 500, api_error): boom (request req_1)")
    }

    @Test func everyResourceCallsItsEndpoint() throws {
        let transport = FakeTransport(json(#"{"id":"x"}"#))
        let client = try makeClient(transport)
        _ = try? client.retrieveCustomer("cus_1")
        _ = try? client.updateCustomer("cus_1", CustomerUpdate(defaultPaymentMethod: "pm_1"), idempotencyKey: "k")
        _ = try? client.retrieveCheckoutSession("cs_1")
        _ = try? client.createCheckoutSetupSession(CheckoutSetupSessionCreate(customer: "cus_1", currency: .usd, successUrl: "https://x.test"), idempotencyKey: "k")
        _ = try? client.createPortalSession(PortalSessionCreate(customer: "cus_1", returnUrl: "https://x.test"), idempotencyKey: "k")
        _ = try? client.listPaymentMethods(customer: "cus_1", PaymentMethodListQuery(type: "card"))
        _ = try? client.retrievePaymentMethod("pm_1")
        _ = try? client.retrievePaymentMethod("pm_1", customer: "cus_1")
        _ = try? client.updateInvoiceLine(invoice: "in_1", line: "il_1", InvoiceLineUpdate(description: "x"), idempotencyKey: "k")
        _ = try? client.updateInvoiceLines(invoice: "in_1", InvoiceLinesUpdate(lines: []), idempotencyKey: "k")
        _ = try? client.retrieveTaxCalculation("taxcalc_1")
        _ = try? client.listTaxCalculationLineItems(calculation: "taxcalc_1")
        _ = try? client.createTaxTransaction(TaxTransactionCreate(calculation: "taxcalc_1", reference: "inv-7"), idempotencyKey: "k")
        _ = try? client.createTaxReversal(TaxReversalCreate(originalTransaction: "tax_1", reference: "inv-7-void"), idempotencyKey: "k")
        _ = try? client.retrieveTaxTransaction("tax_1")
        _ = try? client.listWebhookEndpoints()
        _ = try? client.retrieveWebhookEndpoint("we_1")
        _ = try? client.retrieveEvent("evt_1")
        #expect(transport.requests.map { "\($0.method.rawValue) \($0.url.dropFirst("https://api.stripe.com".count))" } == [
            "GET /v1/customers/cus_1",
            "POST /v1/customers/cus_1",
            "GET /v1/checkout/sessions/cs_1",
            "POST /v1/checkout/sessions",
            "POST /v1/billing_portal/sessions",
            "GET /v1/customers/cus_1/payment_methods?type=card",
            "GET /v1/payment_methods/pm_1",
            "GET /v1/customers/cus_1/payment_methods/pm_1",
            "POST /v1/invoices/in_1/lines/il_1",
            "POST /v1/invoices/in_1/update_lines",
            "GET /v1/tax/calculations/taxcalc_1",
            "GET /v1/tax/calculations/taxcalc_1/line_items",
            "POST /v1/tax/transactions/create_from_calculation",
            "POST /v1/tax/transactions/create_reversal",
            "GET /v1/tax/transactions/tax_1",
            "GET /v1/webhook_endpoints",
            "GET /v1/webhook_endpoints/we_1",
            "GET /v1/events/evt_1",
        ])
    }
}
