import Foundation
import Testing
@testable import Stripe

/// Every decoder against Stripe's own example of its object (Tests/Fixtures/stripe).
@Suite struct DecodingTests {
    func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try StripeJSON.decoder().decode(type, from: fixture(name))
    }

    @Test func account() throws {
        let account = try decode(Account.self, "account")
        #expect(account.id == "acct_1PgafTB7WZ01zgkW")
        #expect(account.country == "US")
        #expect(account.defaultCurrency == "usd")
        #expect(account.email == "site@stripe.com")
        #expect(account.chargesEnabled == false)
        #expect(account.businessProfile?.name == nil)
        #expect(account.displayName == nil)
    }

    @Test func customer() throws {
        let customer = try decode(StripeCustomer.self, "customer")
        #expect(customer.id == "cus_QXg1o8vcGmoR32")
        #expect(customer.created == 1_234_567_890)
        #expect(customer.currency == "usd")
        #expect(customer.balance == 0)
        #expect(customer.email == nil)
        #expect(customer.taxExempt == TaxExempt.none)
        #expect(customer.invoiceSettings?.defaultPaymentMethod == nil)
        #expect(customer.address?.country == nil)
        #expect(customer.metadata.isEmpty)
        guard case .customer(let retrieved) = try decode(RetrievedCustomer.self, "customer") else {
            Issue.record("a live customer decoded as deleted"); return
        }
        #expect(retrieved == customer)
    }

    @Test func deletedCustomer() throws {
        #expect(try decode(RetrievedCustomer.self, "deleted_customer") == .deleted(id: "cus_QXg1o8vcGmoR32"))
    }

    @Test func metadataKeysKeepTheirUnderscores() throws {
        var text = try fixtureText("customer")
        text = text.replacingOccurrences(of: "\"metadata\": {}", with: #""metadata": {"tollbooth_customer": "acme_eu"}"#)
        let customer = try StripeJSON.decoder().decode(StripeCustomer.self, from: Data(text.utf8))
        #expect(customer.metadata == ["tollbooth_customer": "acme_eu"])
    }

    @Test func checkoutSession() throws {
        let session = try decode(CheckoutSession.self, "checkout.session")
        #expect(session.id == "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY")
        #expect(session.mode == "payment")
        #expect(session.status == "open")
        #expect(session.paymentStatus == "unpaid")
        #expect(session.url == "https://checkout.stripe.com/pay/c/cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY")
        #expect(session.customer == nil)
        #expect(session.successUrl == "https://example.com/success")
        #expect(session.expiresAt == 1_234_567_890)
    }

    @Test func portalSession() throws {
        let session = try decode(PortalSession.self, "billing_portal.session")
        #expect(session.id == "bps_1Pgc7HB7WZ01zgkWNs8s9Auh")
        #expect(session.customer == "cus_QXg1o8vcGmoR32")
        #expect(session.returnUrl == "https://example.com/account")
        #expect(session.url.hasPrefix("https://"))
        #expect(session.livemode)
    }

    @Test func paymentMethod() throws {
        let method = try decode(PaymentMethod.self, "payment_method")
        #expect(method.id == "pm_1Pgc75B7WZ01zgkWlHVgdEGJ")
        #expect(method.type == "card")
        #expect(method.card?.brand == "visa")
        #expect(method.card?.last4 == "4242")
        #expect(method.card?.expMonth == 8)
        #expect(method.card?.expYear == 2030)
        #expect(method.billingDetails.email == "jenny@example.com")
        #expect(method.billingDetails.address?.postalCode == "94102")
        #expect(method.metadata == ["order_id": "123456789"])
    }

    @Test func invoice() throws {
        let invoice = try decode(StripeInvoice.self, "invoice")
        #expect(invoice.id == "in_1Pgc6tB7WZ01zgkWu9fdqL6I")
        #expect(invoice.customer == "cus_QXg1o8vcGmoR32")
        #expect(invoice.status == .draft)
        #expect(invoice.currency == "usd")
        #expect(invoice.subtotal == 1_000)
        #expect(invoice.total == 1_000)
        #expect(invoice.amountDue == 1_000)
        #expect(invoice.amountPaid == 0)
        #expect(invoice.amountRemaining == 1_000)
        #expect(invoice.startingBalance == 0)
        #expect(invoice.endingBalance == nil)
        #expect(invoice.attemptCount == 0)
        #expect(invoice.autoAdvance == false)
        #expect(invoice.nextPaymentAttempt == 1_234_567_890)
        #expect(invoice.collectionMethod == .chargeAutomatically)
        #expect(invoice.hostedInvoiceUrl == nil)
        #expect(invoice.number == nil)
        #expect(invoice.totalTaxes == nil)
        #expect(invoice.statusTransitions.finalizedAt == nil)
        #expect(invoice.lastFinalizationError?.type == "idempotency_error")
        #expect(invoice.lines.data.count == 1)
        #expect(invoice.lines.hasMore == false)
        let line = try #require(invoice.lines.data.first)
        #expect(line.id == "il_1Pgc6sB7WZ01zgkWFnxLrLCq")
        #expect(line.amount == 1_000)
        #expect(line.period == StripePeriod(start: 1_721_954_054, end: 1_721_954_054))
        #expect(line.invoiceItem == "invoice_item")
    }

    @Test func invoiceLine() throws {
        let line = try decode(StripeInvoiceLine.self, "line_item")
        #expect(line.id == "il_tmp_1Pgc6sB7WZ01zgkWrG16hkdl")
        #expect(line.invoice == "in_1Pgc6tB7WZ01zgkWu9fdqL6I")
        #expect(line.amount == 1_000)
        #expect(line.subtotal == 2_060_319_484)
        #expect(line.description == "My First Invoice Item (created for API docs)")
        #expect(line.quantity == 1)
        #expect(line.taxes == nil)
        #expect(line.parent?.type == "invoice_item_details")
        #expect(line.parent?.invoiceItemDetails?.proration == true)
    }

    @Test func invoiceLineTaxes() throws {
        var text = try fixtureText("line_item")
        let taxes = #"[{"amount": 190, "tax_behavior": "exclusive", "taxability_reason": "standard_rated", "taxable_amount": 1000, "type": "tax_rate_details", "tax_rate_details": {"tax_rate": "txr_1"}}]"#
        text = text.replacingOccurrences(of: "\"taxes\": null", with: "\"taxes\": \(taxes)")
        let line = try StripeJSON.decoder().decode(StripeInvoiceLine.self, from: Data(text.utf8))
        #expect(line.taxes == [StripeInvoiceTax(amount: 190, taxBehavior: "exclusive", taxabilityReason: "standard_rated",
                                          taxableAmount: 1_000, type: "tax_rate_details", taxRateDetails: .init(taxRate: "txr_1"))])
    }

    @Test func invoiceItem() throws {
        let item = try decode(InvoiceItem.self, "invoiceitem")
        #expect(item.id == "ii_1Pgc6sB7WZ01zgkWrG16hkdl")
        #expect(item.customer == "cus_QXg1o8vcGmoR32")
        #expect(item.invoice == nil)
        #expect(item.amount == 1_000)
        #expect(item.currency == "usd")
        #expect(item.period == StripePeriod(start: 1_721_954_054, end: 1_721_954_054))
        #expect(item.proration == false)
        #expect(item.metadata == [:])
    }

    @Test func taxCalculation() throws {
        let calculation = try decode(TaxCalculation.self, "tax.calculation")
        #expect(calculation.id == "taxcalc_1Pgc7HB7WZ01zgkW0snEQbxy")
        #expect(calculation.amountTotal == 1_947)
        #expect(calculation.taxAmountExclusive == 148)
        #expect(calculation.taxAmountInclusive == 0)
        #expect(calculation.customerDetails.address?.postalCode == "94080")
        #expect(calculation.customerDetails.addressSource == .shipping)
        #expect(calculation.customerDetails.taxabilityOverride == .none)
        #expect(calculation.taxBreakdown.map(\.amount) == [148, 0])
        #expect(calculation.taxBreakdown.map(\.taxRateDetails.percentageDecimal) == ["9.875", "0.0"])
        #expect(calculation.taxBreakdown.map(\.taxabilityReason) == ["standard_rated", "product_exempt"])
        #expect(calculation.lineItems == nil)
    }

    @Test func taxCalculationLineItem() throws {
        let item = try decode(TaxCalculationLineItem.self, "tax.calculation_line_item")
        #expect(item.id == "tax_li_QXhWXb3MbhgP1Q")
        #expect(item.amount == 1_499)
        #expect(item.amountTax == 148)
        #expect(item.reference == "Pepperoni Pizza")
        #expect(item.taxBehavior == .exclusive)
        #expect(item.taxCode == "txcd_40060003")
    }

    @Test func taxTransaction() throws {
        let transaction = try decode(TaxTransaction.self, "tax.transaction")
        #expect(transaction.id == "tax_1Pgc7AB7WZ01zgkW5XONRnmb")
        #expect(transaction.type == .transaction)
        #expect(transaction.reference == "myOrder_123")
        #expect(transaction.reversal?.originalTransaction == nil)
        #expect(transaction.lineItems?.data.map(\.amountTax) == [148])
        #expect(transaction.lineItems?.data.first?.reversal?.originalLineItem == "original_line_item")
    }

    @Test func taxTransactionLineItem() throws {
        let item = try decode(TaxTransactionLineItem.self, "tax.transaction_line_item")
        #expect(item.id == "tax_li_QXhWXb3MbhgP1Q")
        #expect(item.type == .transaction)
        #expect(item.amount == 1_499)
    }

    @Test func webhookEndpoint() throws {
        let endpoint = try decode(WebhookEndpoint.self, "webhook_endpoint")
        #expect(endpoint.id == "we_1Pgc6yB7WZ01zgkWzAudq4eU")
        #expect(endpoint.url == "https://example.com/my/webhook/endpoint")
        #expect(endpoint.enabledEvents == ["charge.failed", "charge.succeeded"])
        #expect(endpoint.status == "enabled")
        #expect(endpoint.apiVersion == nil)
        #expect(endpoint.secret == nil)
    }

    @Test func aCreatedWebhookEndpointCarriesItsSecretMasked() throws {
        var text = try fixtureText("webhook_endpoint")
        text = text.replacingOccurrences(of: "\"status\": \"enabled\"", with: #""status": "enabled", "secret": "whsec_0123456789abcdefghij9876""#)
        let endpoint = try StripeJSON.decoder().decode(WebhookEndpoint.self, from: Data(text.utf8))
        #expect(endpoint.secret?.revealed == "whsec_0123456789abcdefghij9876")
        #expect(!"\(endpoint)".contains("whsec_0123456789abcdefghij9876"))
    }

    @Test func event() throws {
        let event = try decode(Event.self, "event")
        #expect(event.id == "evt_1Pgc76B7WZ01zgkWwyRHS12y")
        #expect(event.type == "plan.created")
        #expect(event.pendingWebhooks == 0)
        #expect(event.request?.id == nil)
        #expect(event.objectType == "plan")
        #expect(event.data.object["amount"] == .number("2000"))
        #expect(event.data.object["amount_decimal"] == .string("2000"))
    }

    @Test func anEventsObjectDecodesAsItsType() throws {
        let text = #"{"id":"evt_2","object":"event","type":"invoice.paid","created":1767225600,"livemode":false,"pending_webhooks":1,"api_version":"2026-07-29.dahlia","request":{"id":null,"idempotency_key":null},"data":{"object":\#(try fixtureText("invoice"))}}"#
        let event = try StripeJSON.decoder().decode(Event.self, from: Data(text.utf8))
        #expect(event.objectType == "invoice")
        let invoice = try event.object(as: StripeInvoice.self)
        #expect(invoice == (try decode(StripeInvoice.self, "invoice")))
        let wrong = stripeError { () throws(StripeError) in try event.object(as: CheckoutSession.self) }
        #expect(wrong?.kind == .decoding)
    }

    @Test func listsOfEveryListedObjectDecode() throws {
        for name in ["customer", "invoice", "invoiceitem", "line_item", "payment_method", "webhook_endpoint", "event", "tax.calculation_line_item"] {
            let text = #"{"object":"list","url":"/v1/x","has_more":true,"data":[\#(try fixtureText(name)),\#(try fixtureText(name))]}"#
            let data = Data(text.utf8)
            let decoder = StripeJSON.decoder()
            let count: Int
            switch name {
            case "customer": count = try decoder.decode(StripeList<StripeCustomer>.self, from: data).data.count
            case "invoice": count = try decoder.decode(StripeList<StripeInvoice>.self, from: data).data.count
            case "invoiceitem": count = try decoder.decode(StripeList<InvoiceItem>.self, from: data).data.count
            case "line_item": count = try decoder.decode(StripeList<StripeInvoiceLine>.self, from: data).data.count
            case "payment_method": count = try decoder.decode(StripeList<PaymentMethod>.self, from: data).data.count
            case "webhook_endpoint": count = try decoder.decode(StripeList<WebhookEndpoint>.self, from: data).data.count
            case "event": count = try decoder.decode(StripeList<Event>.self, from: data).data.count
            default: count = try decoder.decode(StripeList<TaxCalculationLineItem>.self, from: data).data.count
            }
            #expect(count == 2, "\(name)")
        }
    }
}
