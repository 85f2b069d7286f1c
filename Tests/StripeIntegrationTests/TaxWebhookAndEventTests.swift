import Billing
import Foundation
import Stripe
import Testing

/// Tax calculations against the simulator's rate table, transactions and reversals made from
/// them; webhook endpoints; the events invoice activity leaves.
@Suite struct TaxWebhookAndEventTests {
    @Test func aTaxCalculationUsesTheRateTableAndBecomesATransaction() throws {
        let sim = try Simulator()
        try sim.control("POST", "tax_rates", ["rates": [
            ["country": "DE", "percentage": "19", "display_name": "USt.", "tax_type": "vat"],
            ["country": "US", "state": "NY", "percentage": "8.875", "display_name": "Sales tax", "tax_type": "sales_tax"],
        ]])
        let stripe = try sim.client()

        let calculation = try stripe.createTaxCalculation(
            TaxCalculationCreate(currency: .eur, customerDetails: TaxCustomerDetails(address: Address(postalCode: "10115", country: "DE")),
                                 lineItems: [.init(amount: 1_850, reference: "l1", taxBehavior: .exclusive, metadata: ["tollbooth_line": "l1"]),
                                             .init(amount: 2_500, reference: "l2", taxBehavior: .inclusive)],
                                 expandLineItems: true),
            idempotencyKey: "taxcalc-inv-1")
        // l1 on top: 1850 x 19 % = 351.5 -> 352 (half away from zero)
        // l2 inside: 2500 - round(2500 / 1.19) = 2500 - round(2100.84) = 2500 - 2101 = 399
        // amount_total: 1850 + 2500 + 352 exclusive = 4702
        let id = try #require(calculation.id)
        #expect(id.hasPrefix("taxcalc_"))
        #expect(calculation.currency == "eur")
        #expect(calculation.taxAmountExclusive == 352)
        #expect(calculation.taxAmountInclusive == 399)
        #expect(calculation.amountTotal == 4_702)
        #expect(calculation.customerDetails.address?.country == "DE")
        let exclusive = try #require(calculation.taxBreakdown.first { !$0.inclusive })
        #expect(exclusive.amount == 352)
        #expect(exclusive.taxableAmount == 1_850)
        #expect(exclusive.taxabilityReason == "standard_rated")
        #expect(Decimal(string: exclusive.taxRateDetails.percentageDecimal) == 19)
        #expect(calculation.taxBreakdown.first { $0.inclusive }?.taxableAmount == 2_101)
        let expanded = try #require(calculation.lineItems?.data)
        #expect(expanded.map(\.amountTax) == [352, 399])
        #expect(expanded.map(\.reference) == ["l1", "l2"])
        #expect(expanded.first?.metadata == ["tollbooth_line": "l1"])

        let retrieved = try stripe.retrieveTaxCalculation(id)
        #expect(retrieved.taxAmountExclusive == 352)
        #expect(retrieved.lineItems == nil, "line items only when expanded")
        let listed = try stripe.listTaxCalculationLineItems(calculation: id)
        #expect(listed.data == expanded)

        // The most specific rate: New York's; a state without a rule and no country rule is 0.
        // 1000 x 8.875 % = 88.75 -> 89
        let newYork = try stripe.createTaxCalculation(
            TaxCalculationCreate(currency: .usd, customerDetails: TaxCustomerDetails(address: Address(state: "NY", country: "US")),
                                 lineItems: [.init(amount: 1_000, reference: "a")]),
            idempotencyKey: "taxcalc-ny")
        #expect(newYork.taxAmountExclusive == 89)
        let california = try stripe.createTaxCalculation(
            TaxCalculationCreate(currency: .usd, customerDetails: TaxCustomerDetails(address: Address(state: "CA", country: "US")),
                                 lineItems: [.init(amount: 1_000, reference: "a")]),
            idempotencyKey: "taxcalc-ca")
        #expect(california.taxAmountExclusive == 0)
        #expect(california.taxBreakdown.map(\.taxabilityReason) == ["not_collecting"])

        let transaction = try stripe.createTaxTransaction(TaxTransactionCreate(calculation: id, reference: "inv-1", metadata: ["tollbooth_invoice": "inv-1"]),
                                                          idempotencyKey: "taxtx-inv-1")
        #expect(transaction.id.hasPrefix("tax_"))
        #expect(transaction.type == .transaction)
        #expect(transaction.reference == "inv-1")
        #expect(transaction.currency == "eur")
        #expect(transaction.metadata == ["tollbooth_invoice": "inv-1"])
        let transactionLines = try #require(transaction.lineItems?.data)
        #expect(transactionLines.map(\.amount) == [1_850, 2_500])
        #expect(transactionLines.map(\.amountTax) == [352, 399])
        #expect(try stripe.retrieveTaxTransaction(transaction.id) == transaction)

        let sameReference = stripeError { () throws(StripeError) in
            try stripe.createTaxTransaction(TaxTransactionCreate(calculation: id, reference: "inv-1"), idempotencyKey: "taxtx-inv-1-again")
        }
        #expect(sameReference?.status == 400)
        #expect(sameReference?.param == "reference")

        let partial = try stripe.createTaxReversal(
            TaxReversalCreate(originalTransaction: transaction.id, reference: "inv-1-credit-1",
                              mode: .partial(lines: [.init(originalLineItem: transactionLines[0].id, reference: "l1", amount: -1_850, amountTax: -352)])),
            idempotencyKey: "taxrev-inv-1-credit-1")
        #expect(partial.type == .reversal)
        #expect(partial.reversal?.originalTransaction == transaction.id)
        #expect(partial.lineItems?.data.map(\.amountTax) == [-352])
        #expect(partial.lineItems?.data.first?.reversal?.originalLineItem == transactionLines[0].id)
        let full = try stripe.createTaxReversal(TaxReversalCreate(originalTransaction: transaction.id, reference: "inv-1-void"),
                                                idempotencyKey: "taxrev-inv-1-void")
        #expect(full.lineItems?.data.map(\.amount) == [-1_850, -2_500])
        #expect(full.lineItems?.data.map(\.amountTax) == [-352, -399])
    }

    @Test func aWebhookEndpointShowsItsSecretOnceAndMasked() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let endpoint = try stripe.createWebhookEndpoint(
            WebhookEndpointCreate(url: "http://127.0.0.1:9/stripe/webhooks", enabledEvents: ["invoice.paid", "invoice.payment_failed"],
                                  description: "tollbooth", metadata: ["installation": "test"]),
            idempotencyKey: "webhook-endpoint-1")
        #expect(endpoint.id.hasPrefix("we_"))
        #expect(endpoint.status == "enabled")
        #expect(endpoint.enabledEvents == ["invoice.paid", "invoice.payment_failed"])
        #expect(endpoint.apiVersion == StripeConfiguration.apiVersion)
        #expect(endpoint.metadata == ["installation": "test"])
        let secret = try #require(endpoint.secret, "the create answer carries the signing secret")
        #expect(secret.revealed.hasPrefix("whsec_"))
        #expect(secret.revealed.count > 10)
        let printed = "\(secret)"
        print("webhook signing secret: \(printed)")
        #expect(printed == "whsec_***" + secret.revealed.suffix(4))
        for shown in [printed, String(reflecting: secret), String(describing: endpoint), String(reflecting: endpoint)] {
            #expect(!shown.contains(secret.revealed), "the secret is never printed whole")
        }

        let listed = try stripe.listWebhookEndpoints()
        #expect(listed.data.map(\.id) == [endpoint.id])
        #expect(listed.data.first?.secret == nil, "the secret is in the create answer only")
        let retrieved = try stripe.retrieveWebhookEndpoint(endpoint.id)
        #expect(retrieved.secret == nil)
        #expect(retrieved.url == endpoint.url)

        let updated = try stripe.updateWebhookEndpoint(
            endpoint.id, WebhookEndpointUpdate(url: "http://127.0.0.1:9/v2/webhooks", enabledEvents: ["*"], disabled: true,
                                               description: "paused"),
            idempotencyKey: "webhook-endpoint-1-update")
        #expect(updated.url == "http://127.0.0.1:9/v2/webhooks")
        #expect(updated.enabledEvents == ["*"])
        #expect(updated.status == "disabled")
        #expect(updated.description == "paused")
        #expect(updated.secret == nil)
        #expect(try stripe.retrieveWebhookEndpoint(endpoint.id) == updated)
    }

    @Test func invoiceActivityLeavesEventsThatDecode() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        _ = try stripe.createWebhookEndpoint(WebhookEndpointCreate(url: "http://127.0.0.1:9/stripe/webhooks", enabledEvents: ["invoice.paid"]),
                                             idempotencyKey: "webhook-endpoint")
        let (customer, _) = try sim.customer(paying: "pm_card_visa", stripe: stripe, name: "events")
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur, metadata: ["tollbooth_invoice": "inv-9"]),
                                             idempotencyKey: "invoice-inv-9")
        _ = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: draft.id, amount: 4_200, currency: .eur),
                                         idempotencyKey: "item-inv-9")
        _ = try stripe.finalizeInvoice(draft.id, idempotencyKey: "finalize-inv-9")
        _ = try stripe.payInvoice(draft.id, idempotencyKey: "pay-inv-9")

        let paidEvents = try stripe.listEvents(EventListQuery(types: ["invoice.paid"]))
        #expect(paidEvents.data.count == 1)
        let paid = try #require(paidEvents.data.first)
        #expect(paid.id.hasPrefix("evt_"))
        #expect(paid.objectType == "invoice")
        #expect(paid.apiVersion == StripeConfiguration.apiVersion)
        #expect(paid.request?.idempotencyKey == "pay-inv-9")
        #expect(paid.request?.id?.hasPrefix("req_") == true)
        #expect(paid.pendingWebhooks == 1, "one endpoint wants invoice.paid")
        #expect(paid.livemode == false)
        let invoice = try paid.object(as: StripeInvoice.self)
        #expect(invoice.id == draft.id)
        #expect(invoice.status == .paid)
        #expect(invoice.amountPaid == 4_200)
        #expect(invoice.metadata == ["tollbooth_invoice": "inv-9"])
        #expect(try stripe.retrieveEvent(paid.id) == paid)

        let lifecycle = try stripe.listEvents(EventListQuery(types: ["invoice.created", "invoice.finalized"]))
        #expect(Set(lifecycle.data.map(\.type)) == ["invoice.created", "invoice.finalized"])
        #expect(lifecycle.data.allSatisfy { $0.pendingWebhooks == 0 }, "no endpoint wants these")
        #expect(try lifecycle.data.map { try $0.object(as: StripeInvoice.self).id } == [draft.id, draft.id])

        var all: [Event] = []
        var page = try stripe.listEvents(EventListQuery(page: Page(limit: 3)))
        all += page.data
        while page.hasMore, let last = page.data.last {
            page = try stripe.listEvents(EventListQuery(page: Page(limit: 3, startingAfter: last.id)))
            all += page.data
        }
        let types = Set(all.map(\.type))
        for expected in ["customer.created", "payment_method.attached", "checkout.session.completed", "customer.updated",
                         "invoice.created", "invoiceitem.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"] {
            #expect(types.contains(expected), "\(expected) in \(types.sorted())")
        }
        #expect(Set(all.map(\.id)).count == all.count, "no event on two pages")
        #expect(all.map(\.created) == all.map(\.created).sorted(by: >), "newest first")
    }

    @Test func deliveredEventsCarryASignatureTheClientVerifies() throws {
        let sim = try Simulator()
        let receiver = try WebhookReceiver()
        let stripe = try sim.client()
        let endpoint = try stripe.createWebhookEndpoint(WebhookEndpointCreate(url: receiver.url, enabledEvents: ["invoice.finalized", "invoice.paid"]),
                                                        idempotencyKey: "webhook-endpoint")
        let secret = try #require(endpoint.secret)
        let (customer, _) = try sim.customer(paying: "pm_card_visa", stripe: stripe, name: "signed")
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-signed")
        _ = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: draft.id, amount: 1_200, currency: .eur),
                                         idempotencyKey: "item-signed")
        _ = try stripe.finalizeInvoice(draft.id, idempotencyKey: "finalize-signed")
        _ = try stripe.payInvoice(draft.id, idempotencyKey: "pay-signed")

        let deliveries = receiver.wait(for: 2)
        #expect(deliveries.count == 2, "invoice.finalized and invoice.paid, nothing else")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        var types: [String] = []
        for delivery in deliveries {
            let now = Int64(Date().timeIntervalSince1970)
            #expect(throws: Never.self) {
                try WebhookSignature.verify(payload: delivery.body, header: delivery.signature, secret: secret, now: now)
            }
            // The same bytes under another secret, or changed by one byte, are refused.
            #expect(throws: WebhookSignatureError.self) {
                try WebhookSignature.verify(payload: delivery.body, header: delivery.signature,
                                            secret: WebhookSecret("whsec_someOtherSecret000000000000"), now: now)
            }
            #expect(throws: WebhookSignatureError.self) {
                try WebhookSignature.verify(payload: delivery.body + Data(" ".utf8), header: delivery.signature, secret: secret, now: now)
            }
            let event = try decoder.decode(Event.self, from: delivery.body)
            #expect(try event.object(as: StripeInvoice.self).id == draft.id)
            #expect(try stripe.retrieveEvent(event.id).id == event.id)
            types.append(event.type)
        }
        #expect(types.sorted() == ["invoice.finalized", "invoice.paid"])
    }
}
