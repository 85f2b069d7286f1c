import Billing
import Foundation
@testable import Pipeline
@testable import Store
@testable import Stripe
import Testing

@Suite struct ReconcilerTests {
    /// The nightly run compares last month and this month so far; in January, December is last month.
    @Test func theStageComparesLastMonthAndThisMonthSoFar() {
        let may = BillRun.reconcileRange(asOf: Instant(rfc3339: "2026-05-01T02:00:00Z")!)
        #expect(may.from == Instant(rfc3339: "2026-04-01T00:00:00Z")!)
        #expect(may.to == Instant(rfc3339: "2026-05-01T02:00:01Z")!)
        #expect(BillRun.reconcileRange(asOf: Instant(rfc3339: "2027-01-15T00:00:00Z")!).from == Instant(rfc3339: "2026-12-01T00:00:00Z")!)
    }

    @Test func onlyInvoicesThatReachedStripeAreCompared() {
        #expect(Reconciler.expectedStatus(.issued) == .open)
        #expect(Reconciler.expectedStatus(.paymentFailed) == .open)
        #expect(Reconciler.expectedStatus(.paid) == .paid)
        #expect(Reconciler.expectedStatus(.void) == .void)
        for status in [Billing.InvoiceStatus.draft, .rated, .taxed, .issuing, .notRequired, .failed] {
            #expect(Reconciler.expectedStatus(status) == nil)
        }
    }

    /// A JPY invoice of 3,850 that Stripe holds at 3,800 with a 50 yen credit applied: a total
    /// difference of -50 JPY, and the balance named as carried, not as unexplained.
    @Test func differencesAreStatedInTheInvoicesCurrency() throws {
        let day = Instant(rfc3339: "2026-02-01T00:00:00Z")!
        let line = InvoiceLine(kind: .fee, subscriptionId: "sub_1", rateCardKey: "base_fee", description: "Fee",
                               period: Billing.Period(start: day, end: day + 86_400), amount: 3_850)
        let local = StoredInvoice(id: "inv_umbrella_20260201", customerKey: "umbrella", currency: .jpy, billDate: day, status: .issued,
                                  subtotal: 3_850, tax: 0, total: 3_850, periodStart: day, periodEnd: day + 86_400, taxNote: nil,
                                  stripeInvoiceId: "in_1", number: nil, hostedInvoiceUrl: nil, invoicePdf: nil, failure: nil,
                                  lines: [StoredLine(id: "l1", line: line)])
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stripe/invoice.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        object.merge(["id": "in_1", "currency": "jpy", "total": 3_800, "status": "open", "starting_balance": -50, "amount_due": 3_750]) { $1 }
        let remote = try StripeJSON.decoder().decode(StripeInvoice.self, from: JSONSerialization.data(withJSONObject: object))
        let found = Reconciler.compare(local, lines: local.lines.count, remote, itemCount: 1)
        #expect(found.map(\.kind) == [.total, .carriedBalance])
        #expect(found[0].detail == "Stripe's total for in_1 is 3800 JPY, Tollbooth's for inv_umbrella_20260201 3850 JPY: a difference of -50 JPY")
        #expect(found[1].stripe == "-50 JPY")
        #expect(!found[1].kind.isUnexplained)
    }
}
