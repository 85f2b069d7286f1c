import Billing
import Foundation
@testable import Pipeline
@testable import Store
@testable import Stripe
import Logging
import Testing

/// How local invoices become Stripe parameters, and how Stripe's invoice becomes payment state.
@Suite struct StripeMappingTests {
    let nov1 = Instant(rfc3339: "2026-11-01T00:00:00Z")!, dec1 = Instant(rfc3339: "2026-12-01T00:00:00Z")!

    func invoice(_ currency: Currency, amount: String, tax: String = "0", behavior: Billing.TaxBehavior = .exclusive) -> StoredInvoice {
        var line = InvoiceLine(kind: .usage, subscriptionId: "sub_1", rateCardKey: "api_calls", description: "API calls",
                               period: Billing.Period(start: nov1, end: dec1), quantity: 12_345, amount: Decimal(exactly: amount)!,
                               taxBehavior: behavior, detail: "12,345 x 0.002")
        line.taxAmount = Decimal(exactly: tax)!
        return StoredInvoice(id: "inv_acme_20261201", customerKey: "acme", currency: currency, billDate: dec1, status: .taxed,
                             subtotal: line.amount, tax: line.taxAmount, total: line.amount + (behavior == .exclusive ? line.taxAmount : 0),
                             periodStart: nov1, periodEnd: dec1, taxNote: nil, stripeInvoiceId: nil, number: nil, hostedInvoiceUrl: nil,
                             invoicePdf: nil, failure: nil, lines: [StoredLine(id: "inv_acme_20261201_1", line: line)])
    }

    /// Stripe's integer amounts: cents for USD, whole yen for JPY, thousandths ending in 0 for
    /// the three-decimal currencies (lines are rounded to 0.01 BHD).
    @Test func lineAmountsFollowStripesCurrencyRules() throws {
        let amounts = try [(Currency.usd, "24.69", 2_469), (.jpy, "3500", 3_500), (Currency(code: "BHD")!, "1.23", 1_230),
                           (Currency(code: "KWD")!, "-0.5", -500)].map { currency, amount, _ in
            try StripeMapping.addedLine(invoice(currency, amount: amount).lines[0], of: invoice(currency, amount: amount), tax: nil).amount
        }
        #expect(amounts == [2_469, 3_500, 1_230, -500])
    }

    @Test func aLineSaysWhatWasBilledForWhichDaysAndNamesItsLine() throws {
        let bill = invoice(.usd, amount: "24.69")
        let line = try StripeMapping.addedLine(bill.lines[0], of: bill, tax: nil)
        #expect(line.description == "API calls: 12,345 x 0.002 (1 Nov - 30 Nov 2026)")
        #expect(line.period == StripePeriod(start: nov1.seconds, end: dec1.seconds))
        #expect(line.metadata == ["tollbooth_line": "inv_acme_20261201_1", "tollbooth_invoice": "inv_acme_20261201"])
        #expect(line.taxAmounts == nil, "no tax on the line, none sent")
        let created = StripeMapping.invoice(bill, customerId: "cus_1")
        #expect(created.autoAdvance == false)
        #expect(created.collectionMethod == .chargeAutomatically)
        #expect(created.pendingInvoiceItems == .exclude)
        #expect(created.metadata == ["tollbooth_invoice": "inv_acme_20261201"])
        #expect(created.description == "API usage 1 Nov - 30 Nov 2026")
    }

    /// 100.00 at 19% exclusive: 19.00 of tax on a taxable 100.00, sent with the line.
    @Test func aTaxedLineCarriesItsTaxAndNeedsItsRate() throws {
        let bill = invoice(.eur, amount: "100", tax: "19")
        #expect(throws: StripeMappingError.self) { try StripeMapping.addedLine(bill.lines[0], of: bill, tax: nil) }
        let rate = AppliedTax(rate: Decimal(string: "0.19")!, name: "VAT", country: "DE", state: nil)
        let line = try StripeMapping.addedLine(bill.lines[0], of: bill, tax: rate)
        #expect(line.amount == 10_000)
        #expect(line.taxAmounts?.map(\.amount) == [1_900])
        #expect(line.taxAmounts?.map(\.taxableAmount) == [10_000])
    }

    @Test func spansAcrossAYearAndSingleDays() {
        #expect(StripeMapping.span(Instant(rfc3339: "2026-12-15T00:00:00Z")!, Instant(rfc3339: "2027-01-15T00:00:00Z")!)
                == "15 Dec 2026 - 14 Jan 2027")
        #expect(StripeMapping.span(nov1, Instant(rfc3339: "2026-11-02T00:00:00Z")!) == "1 Nov 2026")
    }

    /// Inclusive 119.00 at 19% holds 19.00 of tax: taxable 100.00. Exclusive 100.00 at 19%:
    /// tax 19.00 on a taxable 100.00.
    @Test func taxAmountsSayWhatIsTaxableAndWhetherTheTaxIsInside() {
        let rate = AppliedTax(rate: Decimal(string: "0.19")!, name: "VAT", country: "DE", state: nil)
        let inclusive = StripeMapping.taxAmount(invoice(.eur, amount: "119", tax: "19", behavior: .inclusive).lines[0].line, tax: rate, currency: .eur)
        #expect(inclusive.amount == 1_900)
        #expect(inclusive.taxableAmount == 10_000)
        #expect(inclusive.rate.inclusive)
        #expect(inclusive.rate.percentage == 19)
        let exclusive = StripeMapping.taxAmount(invoice(.eur, amount: "100", tax: "19").lines[0].line, tax: rate, currency: .eur)
        #expect(exclusive.amount == 1_900)
        #expect(exclusive.taxableAmount == 10_000)
        #expect(!exclusive.rate.inclusive)
    }

    @Test func theStripeCustomerCarriesTaxExemptionAndTheCustomersKey() {
        let customer = Billing.Customer(key: "globex", name: "Globex GmbH", email: "ap@globex.example", currency: .eur,
                                billingAddress: .init(country: "DE", postalCode: "10115", city: "Berlin"), taxExempt: .reverse,
                                taxIds: [.init(type: "eu_vat", value: "DE123456789")])
        let create = StripeMapping.customer(customer)
        #expect(create.taxExempt == .reverse)
        #expect(create.metadata == ["tollbooth_customer": "globex"])
        #expect(create.address?.country == "DE")
        #expect(create.taxIds == [TaxID(type: "eu_vat", value: "DE123456789")])
        #expect(create.email == "ap@globex.example")
    }

    /// Stripe's invoice (its own example object, Tests/Fixtures/stripe/invoice.json) with
    /// `changes` applied.
    func remote(_ changes: [String: Any]) throws -> StripeInvoice {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stripe/invoice.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        object.merge(changes) { $1 }
        return try StripeJSON.decoder().decode(StripeInvoice.self, from: JSONSerialization.data(withJSONObject: object))
    }

    /// DESIGN.md "Stripe": a payment that needs authentication is `payment_failed` with the
    /// reason "authentication required" and the hosted invoice link. The invoice shows it as a
    /// failed automatic attempt with no next attempt; a decline Stripe retries has one.
    @Test func aPaymentWaitingForAuthenticationSaysSoWithTheHostedLink() throws {
        let waiting = try remote(["status": "open", "attempt_count": 1, "auto_advance": true, "next_payment_attempt": NSNull(),
                                  "collection_method": "charge_automatically", "hosted_invoice_url": "https://pay.example/i/1"])
        #expect(PaymentStateRule.failureReason(waiting)
                == "authentication required: the customer confirms the payment (3-D Secure) at https://pay.example/i/1")
        let declined = try remote(["status": "open", "attempt_count": 1, "auto_advance": true, "next_payment_attempt": 1_765_000_000,
                                   "collection_method": "charge_automatically"])
        #expect(PaymentStateRule.failureReason(declined) == nil)
        let notTried = try remote(["status": "open", "attempt_count": 0, "auto_advance": true, "next_payment_attempt": NSNull()])
        #expect(PaymentStateRule.failureReason(notTried) == nil)
        let paid = try remote(["status": "paid", "attempt_count": 1, "auto_advance": true, "next_payment_attempt": NSNull()])
        #expect(PaymentStateRule.failureReason(paid) == nil)
        let manual = try remote(["status": "open", "attempt_count": 1, "auto_advance": false, "next_payment_attempt": NSNull()])
        #expect(PaymentStateRule.failureReason(manual) == nil, "a charge Tollbooth did not leave to Stripe")
    }

    @Test func paymentStateKeepsTheFirstFailureAndStripesOwnTimes() throws {
        var stored = invoice(.usd, amount: "24.69")
        stored.status = .issued
        let firstSeen = Instant(rfc3339: "2026-12-01T06:00:00Z")!, later = Instant(rfc3339: "2026-12-02T06:00:00Z")!
        // Open with a failed attempt: payment_failed, first seen now, next attempt as Stripe says.
        let (failed, failure) = PaymentStateRule.apply(try remote(["status": "open", "attempt_count": 1, "next_payment_attempt": 1_765_000_000]),
                                                      to: stored, now: firstSeen)
        #expect(failed == .paymentFailed)
        #expect(failure.paymentFailedAt == firstSeen)
        #expect(failure.attemptCount == 1)
        #expect(failure.nextPaymentAttempt == Instant(seconds: 1_765_000_000))
        // A second failure seen a day later keeps the first failure's time (grace counts from it).
        stored.status = .paymentFailed
        stored.payment = failure
        let (_, again) = PaymentStateRule.apply(try remote(["status": "open", "attempt_count": 2]), to: stored, now: later)
        #expect(again.paymentFailedAt == firstSeen)
        #expect(again.attemptCount == 2)
        // Paid: the time is Stripe's status transition, not when it was seen.
        let paidAt: Int64 = 1_765_100_000
        let (paid, payment) = PaymentStateRule.apply(try remote(["status": "paid", "attempt_count": 3, "amount_paid": 2_469,
                                                                  "status_transitions": ["paid_at": paidAt]]), to: stored, now: later)
        #expect(paid == .paid)
        #expect(payment.paidAt == Instant(seconds: paidAt))
        #expect(payment.amountPaid == 2_469)
        #expect(payment.collectedAt == later)
        // Open with no attempt yet: still issued; void and uncollectible map through.
        #expect(PaymentStateRule.apply(try remote(["status": "open", "attempt_count": 0]), to: invoice(.usd, amount: "1"), now: later).0 == .issued)
        #expect(PaymentStateRule.apply(try remote(["status": "void"]), to: stored, now: later).0 == .void)
        #expect(PaymentStateRule.apply(try remote(["status": "uncollectible"]), to: stored, now: later).0 == .uncollectible)
    }

    @Test func stripeTaxNamesAndExemptions() {
        #expect(StripeTax.name("sales_tax") == "Sales tax")
        #expect(StripeTax.name("vat") == "VAT")
        #expect(StripeTax.name(nil) == "Tax")
        #expect(StripeTax.override(.exempt) == .customerExempt)
        #expect(StripeTax.override(.reverse) == .reverseCharge)
        #expect(StripeTax.override(.none) == .none)
    }

    @Test func idempotencyKeysComeFromLocalIdsAndARerunStartsANewGeneration() {
        #expect(IdempotencyKeys(generation: 0).key("line", "inv_acme_20261201_1") == "tollbooth-line-inv_acme_20261201_1")
        #expect(IdempotencyKeys(generation: 2).key("finalize", "inv_acme_20261201") == "tollbooth-finalize-inv_acme_20261201-r2")
    }
}

/// A transport that must never be called: it counts what reached it and answers nothing.
final class RefusingTransport: StripeTransport, @unchecked Sendable {
    private(set) var calls = 0
    func send(_ request: Stripe.HTTPRequest) throws(NetworkError) -> Stripe.HTTPResponse {
        calls += 1
        throw NetworkError(.other, detail: "no Stripe in this test")
    }
}

@Suite struct IssuerLimitTests {
    /// Stripe takes at most 250 lines on an invoice: a longer one fails before any call, with
    /// what to do, and is not moved to `issuing`.
    @Test(arguments: Backend.allCases) func anInvoiceOfMoreThan250LinesFailsBeforeAnyCall(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        let transport = RefusingTransport()
        let configuration = try StripeConfiguration(apiKey: try APIKey("sk_test_limit000000000001"), baseURL: "http://127.0.0.1:9")
        let issuer = Issuer(store: store, stripe: StripeClient(configuration: configuration, transport: transport, logger: Logger(label: "test")),
                            account: "acct_1", failpoints: Failpoints(environment: [:]), now: Instant(seconds: 0))
        let day = Instant(rfc3339: "2026-02-01T00:00:00Z")!
        let line = InvoiceLine(kind: .fee, subscriptionId: nil, rateCardKey: "fee", description: "Fee",
                               period: Billing.Period(start: day, end: day + 86_400), amount: 1)
        let invoice = StoredInvoice(id: "inv_big_20260201", customerKey: "big", currency: .usd, billDate: day, status: .taxed,
                                    subtotal: 251, tax: 0, total: 251, periodStart: day, periodEnd: day + 86_400, taxNote: nil,
                                    stripeInvoiceId: nil, number: nil, hostedInvoiceUrl: nil, invoicePdf: nil, failure: nil,
                                    lines: (1...251).map { StoredLine(id: "l\($0)", line: line) })
        let failure = try issuer.issue(invoice, customer: Billing.Customer(key: "big", name: "Big"), tax: nil)
        #expect(failure?.failure.message.hasPrefix("invoice inv_big_20260201 has 251 lines and a Stripe invoice holds at most 250") == true)
        #expect(failure?.failure.stage == "issue")
        #expect(transport.calls == 0)
    }
}
