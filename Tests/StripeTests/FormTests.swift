import Billing
import Foundation
import Testing
@testable import Stripe

@Suite struct FormTests {
    @Test func nestedObjectsUseBracketsAtEveryLevel() {
        var form = Form()
        form.add("period") { $0.add("start", Int64(1_767_225_600)); $0.add("end", Int64(1_769_904_000)) }
        form.add("customer_details") { details in
            details.add("address") { $0.add("country", "DE") }
            details.add("tax_ids", each: [TaxID(type: "eu_vat", value: "DE123")]) { $1.encode(into: &$0) }
        }
        #expect(fieldList(form) == [
            "period[start]=1767225600",
            "period[end]=1769904000",
            "customer_details[address][country]=DE",
            "customer_details[tax_ids][0][type]=eu_vat",
            "customer_details[tax_ids][0][value]=DE123",
        ])
    }

    @Test func listsOfStringsUseEmptyBracketsAndListsOfObjectsAreIndexed() {
        var form = Form()
        form.add("enabled_events", list: ["invoice.paid", "invoice.voided"])
        form.add("line_items", each: [100, -25]) { $0.add("amount", Int64($1)) }
        #expect(form.encoded == "enabled_events%5B%5D=invoice.paid&enabled_events%5B%5D=invoice.voided"
            + "&line_items%5B0%5D%5Bamount%5D=100&line_items%5B1%5D%5Bamount%5D=-25")
    }

    @Test func metadataEntriesAreSortedSoTheSameParametersGiveTheSameBytes() {
        var first = Form(), second = Form()
        first.add("metadata", map: ["tollbooth_line": "l-2", "tollbooth_invoice": "inv-1", "a": "z"])
        second.add("metadata", map: ["a": "z", "tollbooth_invoice": "inv-1", "tollbooth_line": "l-2"])
        #expect(fieldList(first) == ["metadata[a]=z", "metadata[tollbooth_invoice]=inv-1", "metadata[tollbooth_line]=l-2"])
        #expect(first.encoded == second.encoded)
    }

    @Test func nilAddsNothingAndAnEmptyStringUnsets() {
        var form = Form()
        form.add("description", String?.none)
        form.add("limit", Int?.none)
        form.add("metadata", map: nil)
        form.add("footer", "")
        #expect(form.encoded == "footer=")
    }

    @Test func percentEncodingKeepsOnlyUnreservedCharacters() {
        #expect(Form.percentEncoded("AZaz09-._~") == "AZaz09-._~")
        #expect(Form.percentEncoded("a b") == "a%20b")
        #expect(Form.percentEncoded("a+b=c&d") == "a%2Bb%3Dc%26d")
        #expect(Form.percentEncoded("x@y.com") == "x%40y.com")
        #expect(Form.percentEncoded("50%/100?#") == "50%25%2F100%3F%23")
        #expect(Form.percentEncoded("[k]") == "%5Bk%5D")
        // UTF-8 bytes, upper-case hex: é is C3 A9, € is E2 82 AC, 🙂 is F0 9F 99 82.
        #expect(Form.percentEncoded("Café €5 🙂") == "Caf%C3%A9%20%E2%82%AC5%20%F0%9F%99%82")
        #expect(Form.percentEncoded("line1\nline2") == "line1%0Aline2")
        #expect(Form.percentEncoded("") == "")
    }

    @Test func keysAreEncodedToo() {
        var form = Form()
        form.add("metadata", map: ["order id": "a&b"])
        #expect(form.encoded == "metadata%5Border%20id%5D=a%26b")
    }

    @Test func booleansAndDecimalsArePlainText() {
        var form = Form()
        form.add("auto_advance", false)
        form.add("percentage", Decimal(string: "8.875"))
        form.add("percentage", Decimal(19))
        form.add("percentage", Decimal(string: "0.0001"))
        #expect(fieldList(form) == ["auto_advance=false", "percentage=8.875", "percentage=19", "percentage=0.0001"])
    }

    @Test func anInvoiceItemCarriesItsInvoicePeriodAndLineID() {
        let item = InvoiceItemCreate(customer: "cus_1", invoice: "in_1", amount: 1_850, currency: .eur,
                                     description: "API requests, Jan 2026",
                                     period: StripePeriod(start: 1_767_225_600, end: 1_769_904_000),
                                     metadata: ["tollbooth_line": "42", "tollbooth_invoice": "7"])
        #expect(fieldList(encoded(item)) == [
            "customer=cus_1", "invoice=in_1", "amount=1850", "currency=eur", "description=API requests, Jan 2026",
            "period[start]=1767225600", "period[end]=1769904000",
            "metadata[tollbooth_invoice]=7", "metadata[tollbooth_line]=42",
        ])
    }

    @Test func aDraftInvoiceIsNotAutoAdvancedAndLeavesPendingItemsOut() {
        let invoice = InvoiceCreate(customer: "cus_1", currency: .usd, metadata: ["tollbooth_invoice": "7"])
        #expect(fieldList(encoded(invoice)) == [
            "customer=cus_1", "currency=usd", "auto_advance=false", "pending_invoice_items_behavior=exclude",
            "metadata[tollbooth_invoice]=7",
        ])
    }

    @Test func lineTaxAmountsCarryInlineRateData() {
        let rate = TaxRateData(displayName: "VAT", inclusive: false, percentage: 19, country: "DE", taxType: "vat")
        let update = InvoiceLinesUpdate(lines: [
            .init(id: "il_1", changes: InvoiceLineUpdate(taxAmounts: [TaxAmount(amount: 352, taxableAmount: 1_850, rate: rate)])),
            .init(id: "il_2", changes: InvoiceLineUpdate(taxAmounts: [])),
        ])
        #expect(fieldList(encoded(update)) == [
            "lines[0][id]=il_1",
            "lines[0][tax_amounts][0][amount]=352",
            "lines[0][tax_amounts][0][taxable_amount]=1850",
            "lines[0][tax_amounts][0][tax_rate_data][display_name]=VAT",
            "lines[0][tax_amounts][0][tax_rate_data][inclusive]=false",
            "lines[0][tax_amounts][0][tax_rate_data][percentage]=19",
            "lines[0][tax_amounts][0][tax_rate_data][country]=DE",
            "lines[0][tax_amounts][0][tax_rate_data][tax_type]=vat",
            "lines[1][id]=il_2",
            "lines[1][tax_amounts]=",
        ])
    }

    @Test func aTaxCalculationListsItsLinesAndCustomer() {
        let calculation = TaxCalculationCreate(
            currency: .usd,
            customerDetails: TaxCustomerDetails(address: Address(postalCode: "94080", country: "US"), taxabilityOverride: .reverseCharge),
            lineItems: [.init(amount: 1_499, reference: "line-1", taxBehavior: .exclusive, taxCode: "txcd_10000000")],
            expandLineItems: true)
        #expect(fieldList(encoded(calculation)) == [
            "currency=usd",
            "customer_details[address][postal_code]=94080",
            "customer_details[address][country]=US",
            "customer_details[address_source]=billing",
            "customer_details[taxability_override]=reverse_charge",
            "line_items[0][amount]=1499",
            "line_items[0][reference]=line-1",
            "line_items[0][tax_behavior]=exclusive",
            "line_items[0][tax_code]=txcd_10000000",
            "expand[]=line_items",
        ])
    }

    @Test func taxReversalsAreFullOrPartial() {
        #expect(fieldList(encoded(TaxReversalCreate(originalTransaction: "tax_1", reference: "inv-7-void"))) == [
            "original_transaction=tax_1", "reference=inv-7-void", "mode=full",
        ])
        let partial = TaxReversalCreate(originalTransaction: "tax_1", reference: "inv-7-r1", mode: .partial(lines: [
            .init(originalLineItem: "tax_li_1", reference: "line-1", amount: -1_000, amountTax: -190),
        ]))
        #expect(fieldList(encoded(partial)) == [
            "original_transaction=tax_1", "reference=inv-7-r1", "mode=partial",
            "line_items[0][original_line_item]=tax_li_1", "line_items[0][reference]=line-1",
            "line_items[0][amount]=-1000", "line_items[0][amount_tax]=-190",
        ])
        #expect(fieldList(encoded(TaxReversalCreate(originalTransaction: "tax_1", reference: "r", mode: .flatAmount(-500)))) == [
            "original_transaction=tax_1", "reference=r", "mode=partial", "flat_amount=-500",
        ])
    }

    @Test func aWebhookEndpointIsCreatedWithThePinnedAPIVersion() {
        let endpoint = WebhookEndpointCreate(url: "https://billing.example.com/stripe/webhook",
                                             enabledEvents: ["invoice.paid", "checkout.session.completed"])
        #expect(fieldList(encoded(endpoint)) == [
            "url=https://billing.example.com/stripe/webhook",
            "enabled_events[]=invoice.paid",
            "enabled_events[]=checkout.session.completed",
            "api_version=2026-07-29.dahlia",
        ])
    }

    @Test func aCustomerUpdateSetsTheDefaultPaymentMethodUnderInvoiceSettings() {
        let update = CustomerUpdate(address: Address(line1: "1 Main St", country: "US"), taxExempt: .reverse,
                                    defaultPaymentMethod: "pm_1")
        #expect(fieldList(encoded(update)) == [
            "address[line1]=1 Main St", "address[country]=US", "tax_exempt=reverse",
            "invoice_settings[default_payment_method]=pm_1",
        ])
    }

    @Test func aSetupCheckoutSessionIsInSetupMode() {
        let session = CheckoutSetupSessionCreate(customer: "cus_1", currency: .jpy, successUrl: "https://x.test/done?s={CHECKOUT_SESSION_ID}")
        #expect(encoded(session).encoded
            == "mode=setup&customer=cus_1&currency=jpy&success_url=https%3A%2F%2Fx.test%2Fdone%3Fs%3D%7BCHECKOUT_SESSION_ID%7D")
    }

    @Test func eventListsTakeOneTypeOrSeveral() {
        #expect(fieldList(encoded(EventListQuery(types: ["invoice.paid"]))) == ["type=invoice.paid"])
        #expect(fieldList(encoded(EventListQuery(types: ["invoice.paid", "invoice.voided"], page: Page(limit: 5)))) == [
            "types[]=invoice.paid", "types[]=invoice.voided", "limit=5",
        ])
        #expect(encoded(EventListQuery()).fields.isEmpty)
    }
}

/// `POST /v1/invoices/{invoice}/add_lines` as Stripe's API reference describes it (API version
/// 2024-09-30 and later): `lines[i][amount|description|period|metadata|tax_amounts]`, tax
/// amounts with inline `tax_rate_data`; the first test is the reference's own example.
@Suite struct AddLinesFormTests {
    @Test func theReferenceExampleEncodesByteForByte() {
        let params = InvoiceLinesAdd(lines: [
            .init(amount: 7500, description: "Pro monthly fee", period: StripePeriod(start: 1793491200, end: 1796083199),
                  metadata: ["tollbooth_line": "inv_acme_20261101_1"]),
        ])
        var form = Form()
        params.encode(into: &form)
        // Stripe's example, percent-encoded as the client encodes every bracket.
        let example = "lines[0][amount]=7500&lines[0][description]=Pro%20monthly%20fee&lines[0][period][start]=1793491200&lines[0][period][end]=1796083199&lines[0][metadata][tollbooth_line]=inv_acme_20261101_1"
        #expect(form.encoded == example.replacingOccurrences(of: "[", with: "%5B").replacingOccurrences(of: "]", with: "%5D"))
    }

    @Test func eachLineCarriesItsTaxAmountsWithInlineRateData() {
        let tax = TaxAmount(amount: 210, taxableAmount: 2900,
                            rate: TaxRateData(displayName: "CA sales tax", inclusive: false, percentage: Decimal(string: "7.25")!,
                                              country: "US", state: "CA"),
                            taxabilityReason: "standard_rated")
        let params = InvoiceLinesAdd(lines: [
            .init(amount: 2900, description: "Starter", period: StripePeriod(start: 10, end: 20), metadata: ["tollbooth_invoice": "inv_a", "tollbooth_line": "l1"],
                  taxAmounts: [tax]),
            .init(amount: -500, description: "Credit"),
        ])
        var form = Form()
        params.encode(into: &form)
        #expect(fieldList(form) == [
            "lines[0][amount]=2900", "lines[0][description]=Starter", "lines[0][period][start]=10", "lines[0][period][end]=20",
            "lines[0][metadata][tollbooth_invoice]=inv_a", "lines[0][metadata][tollbooth_line]=l1",
            "lines[0][tax_amounts][0][amount]=210", "lines[0][tax_amounts][0][taxable_amount]=2900",
            "lines[0][tax_amounts][0][tax_rate_data][display_name]=CA sales tax", "lines[0][tax_amounts][0][tax_rate_data][inclusive]=false",
            "lines[0][tax_amounts][0][tax_rate_data][percentage]=7.25", "lines[0][tax_amounts][0][tax_rate_data][country]=US",
            "lines[0][tax_amounts][0][tax_rate_data][state]=CA", "lines[0][tax_amounts][0][taxability_reason]=standard_rated",
            "lines[1][amount]=-500", "lines[1][description]=Credit",
        ])
    }

    @Test func theCallPostsToTheInvoicesAddLinesPathWithItsKey() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("invoice")))
        let client = try makeClient(transport)
        _ = try client.addInvoiceLines(invoice: "in_1", InvoiceLinesAdd(lines: [.init(amount: 100)]), idempotencyKey: "tollbooth-lines-inv_a-l1")
        let request = try #require(transport.requests.first)
        #expect(request.method == .post)
        #expect(request.url == "https://api.stripe.com/v1/invoices/in_1/add_lines")
        #expect(request.header("Idempotency-Key") == "tollbooth-lines-inv_a-l1")
        #expect(request.body == "lines%5B0%5D%5Bamount%5D=100")
    }
}
