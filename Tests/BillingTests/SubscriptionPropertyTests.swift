import Foundation
import PropertyBased
import Testing
@testable import Billing

/// Invariants of subscriptions over time, over random change instants and usage.
@Suite struct SubscriptionPropertyTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let may1 = t("2026-05-01T00:00:00Z")
    /// April in seconds: 30 x 86,400.
    let april: Int64 = 2_592_000

    @Test func thePartsOfASplitPeriodSumToTheWhole() async {
        // A change at any second of April splits usage and an in-arrears fee between the two
        // subscriptions: the quantities add up exactly, the fees to within the one rounding
        // each part gets (at most one cent).
        let plan = Plans.plan("split", [Plans.fee("31.00", term: .inArrears),
                                        Plans.requestsCard(.unit(amount: d("0.001"), commitments: Commitments()))])
        await propertyCheck(input: Gen.int(in: 1...2_591_999), Gen.int(in: 0...400).array(of: 0...40)) { offset, seconds in
            let change = apr1 + Int64(offset)
            var usage = Usage()
            for second in seconds { usage.add(1, subscription: apr1 + Int64(second) * 6_400 < change ? "a" : "b",
                                              at: apr1 + Int64(second) * 6_400) }
            let old = Subscription(id: "a", customerKey: "acme", plan: plan, start: apr1, end: change)
            let new = Subscription(id: "b", customerKey: "acme", plan: plan, anchor: apr1, start: change, origin: .change(from: "a"))
            let invoice = draft([old, new], at: may1, usage: usage)
            let quantities = invoice.lines.filter { $0.kind == .usage }.compactMap(\.quantity)
            #expect(quantities.reduce(0, +) == Decimal(seconds.count))
            let fees = invoice.lines.filter { $0.kind == .fee }.map(\.amount).reduce(0, +)
            #expect(abs(fees - d("31.00")) <= d("0.01"))
            let parts = invoice.lines.filter { $0.kind == .fee }.map(\.period.seconds).reduce(0, +)
            #expect(parts == april)
        }
    }

    @Test func aChangeToTheSamePriceCreditsAndChargesEqualAmounts() async {
        // Upgrade at any second of April to a plan with the same fee: the credit for the rest
        // of the period equals the charge for it, under either proration mode with no usage.
        await propertyCheck(input: Gen.int(in: 1...2_591_999), Gen.int(in: 1...100_000), Gen.bool) { offset, feeCents, prorate in
            let fee = Decimal(feeCents) / 100
            let mode: ProRatingMode = prorate ? .proratePrices : .maxConsumptionBased
            let a = Plans.plan("a", [Plans.fee(fee.plainString), Plans.requestsCard(nil, quota: "1000")], mode: mode)
            let b = Plans.plan("b", [Plans.fee(fee.plainString)], mode: mode)
            let change = apr1 + Int64(offset)
            let old = Subscription(id: "a", customerKey: "acme", plan: a, start: apr1, end: change)
            let new = Subscription(id: "b", customerKey: "acme", plan: b, anchor: apr1, start: change, origin: .change(from: "a"))
            #expect(old.isUpgrade(to: b, at: change))
            let lines = try SubscriptionBiller(catalog: Plans.catalog, usage: RecordedUsage()).lines(for: old, at: may1)
                + (try SubscriptionBiller(catalog: Plans.catalog, usage: RecordedUsage()).lines(for: new, at: may1))
            let credit = lines.filter { $0.kind == .prorationCredit }.map(\.amount).reduce(0, +)
            let charge = lines.filter { $0.kind == .prorationCharge }.map(\.amount).reduce(0, +)
            #expect(credit == -charge)
        }
    }

    @Test func totalsEqualTheSumOfLinesAndNeverGoBelowZero() async {
        // Random charges and credits, inclusive and exclusive, taxed at 19%: subtotal is the sum
        // of amounts, tax the sum of taxes, total subtotal + exclusive tax; credits never take
        // an invoice below zero, with tax included.
        let line = Gen.int(in: -50_000...50_000).map { $0 }
        await propertyCheck(input: line.array(of: 1...12), Gen.bool.array(of: 12...12)) { cents, inclusive in
            let lines = cents.enumerated().map { index, value in
                InvoiceLine(kind: value < 0 ? .prorationCredit : .fee, subscriptionId: "s", rateCardKey: "card\(index)",
                            description: "line", period: Period(start: apr1, end: may1), amount: Decimal(value) / 100,
                            taxBehavior: inclusive[index] ? .inclusive : .exclusive)
            }
            let drafted = Credits.apply(to: DraftInvoice(customerKey: "acme", currency: .eur, billDate: may1, lines: lines), carried: [])
            let taxed = InvoiceTax.apply(.apply(TaxRate(country: "DE", rate: d("0.19"), name: "VAT")), to: drafted)
            #expect(taxed.subtotal == taxed.lines.map(\.amount).reduce(0, +))
            #expect(taxed.tax == taxed.lines.map(\.taxAmount).reduce(0, +))
            #expect(taxed.total == taxed.subtotal + taxed.lines.filter { $0.taxBehavior == .exclusive }.map(\.taxAmount).reduce(0, +))
            #expect(taxed.subtotal >= 0)
            #expect(taxed.total >= 0)
            // Nothing is lost: what was applied plus what carries equals every credit.
            let credits = lines.filter(\.isCredit).map(\.amount).reduce(0, +)
            let applied = taxed.lines.filter(\.isCredit).map(\.amount).reduce(0, +)
            #expect(applied + taxed.carriedCredits.map(\.line.amount).reduce(0, +) == credits)
        }
    }
}
