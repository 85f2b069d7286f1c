import Foundation
import Testing
@testable import Billing

/// One test per rule of DESIGN.md's "Rules the numbers follow" on subscriptions over time.
/// April 2026 has 30 days, so "day 15 of 30" fractions read directly.
@Suite struct SubscriptionRuleTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let apr11 = t("2026-04-11T00:00:00Z")
    let apr16 = t("2026-04-16T00:00:00Z")
    let may1 = t("2026-05-01T00:00:00Z")
    let jun1 = t("2026-06-01T00:00:00Z")

    func subscription(_ id: String, _ plan: Plan, start: Instant? = nil, anchor: Instant? = nil, end: Instant? = nil,
                      origin: Subscription.Origin = .new) -> Subscription {
        Subscription(id: id, customerKey: "acme", plan: plan, anchor: anchor ?? apr1, start: start ?? apr1, end: end, origin: origin)
    }

    @Test func inAdvanceFeeIsBilledWholeAtThePeriodStart() {
        let starter = subscription("s1", Plans.starter())
        let invoice = draft([starter], at: apr1)
        #expect(amounts(invoice) == ["fee 29"])
        #expect(invoice.lines[0].period == Period(start: apr1, end: may1))
        // Nothing else falls due before the next boundary.
        #expect(draft([starter], at: apr16).lines.isEmpty)
    }

    @Test func anAnchorMakesAPartialFirstPeriodBilledAtTheStart() {
        // Start Apr 10, anchor May 1: the first period [Apr 10, May 1) is 21 of April's 30 days.
        // 29.00 x 21 / 30 = 20.30
        let sub = subscription("s1", Plans.starter(), start: t("2026-04-10T00:00:00Z"), anchor: may1)
        let invoice = draft([sub], at: t("2026-04-10T00:00:00Z"))
        #expect(amounts(invoice) == ["fee 20.3"])
        #expect(invoice.lines[0].detail == "29.00 x 21/30 days")
        #expect(sub.billDates(after: nil, through: jun1) == [t("2026-04-10T00:00:00Z"), may1, jun1])
    }

    @Test func exactFractionRoundsOnce() {
        // 29.00 x 109 / 232 = 13.625 exactly: one rounding gives 13.63, not 13.62.
        let period = SubscriptionBiller.CardPeriod(whole: Period(start: Instant(seconds: 0), end: Instant(seconds: 232)),
                                                   billed: Period(start: Instant(seconds: 123), end: Instant(seconds: 232)))
        let line = SubscriptionBiller(catalog: Plans.catalog, usage: RecordedUsage())
            .proratedFee(.fee, subscription("s1", Plans.starter()), Plans.fee("29.00"), d("29.00"), period)
        #expect(line.amount == d("13.63"))
    }

    @Test func inArrearsFeeIsBilledAtThePeriodEndForThePartServed() {
        // 30.00 in arrears, cancelled after 10 of 30 days: 30.00 x 10 / 30 = 10.00 at May 1.
        let plan = Plans.plan("support", [Plans.fee("30.00", term: .inArrears)])
        let sub = subscription("s1", plan, end: apr11)
        #expect(draft([sub], at: apr1).lines.isEmpty)
        #expect(amounts(draft([sub], at: may1)) == ["fee 10"])
    }

    @Test func usageIsBilledInArrears() {
        // 12,345 requests x 0.002 = 24.69, plus May's fee in advance.
        var usage = Usage()
        usage.add(12_345, subscription: "s1", at: t("2026-04-20T10:00:00Z"))
        let invoice = draft([subscription("s1", Plans.pro)], at: may1, usage: usage)
        #expect(amounts(invoice) == ["fee 99", "usage 24.69"])
        #expect(invoice.lines[1].quantity == 12_345)
        #expect(invoice.lines[1].period == Period(start: apr1, end: may1))
    }

    // "Starter 29.00/month with 10,000 requests, upgrade on day 15 of 30 after 7,000 requests"
    func upgrade(_ mode: ProRatingMode) -> DraftInvoice {
        var usage = Usage()
        usage.add(7_000, subscription: "s1", at: t("2026-04-05T00:00:00Z"))
        usage.add(1_000, subscription: "s2", at: t("2026-04-20T00:00:00Z"))
        let old = subscription("s1", Plans.starter(mode: mode), end: apr16)
        let new = subscription("s2", Plans.pro, start: apr16, origin: .change(from: "s1"))
        return draft([old, new], at: may1, usage: usage)
    }

    @Test func upgradeCreditUnderMaxConsumptionBased() {
        // consumed = max(15/30 elapsed, 7,000/10,000 used) = 0.7 -> credit 29.00 x 0.3 = 8.70.
        // Pro: 99.00 x 15/30 = 49.50 for the rest of April, 99.00 for May, 1,000 x 0.002 = 2.00.
        let invoice = upgrade(.maxConsumptionBased)
        #expect(amounts(invoice) == ["fee 99", "proration_charge 49.5", "usage 2", "proration_credit -8.7"])
        #expect(invoice.lines[3].period == Period(start: apr16, end: may1))
        // 99.00 + 49.50 + 2.00 - 8.70 = 141.80
        #expect(invoice.subtotal == d("141.80"))
    }

    @Test func upgradeCreditUnderProratePrices() {
        // consumed = 15/30 elapsed -> credit 29.00 x 15/30 = 14.50.
        #expect(amounts(upgrade(.proratePrices)).last == "proration_credit -14.5")
    }

    @Test func downgradeAtTheNextBoundaryHasNoCredit() {
        // Pro -> Starter is a downgrade (29.00 < 99.00): by default at the next boundary, May 1.
        let pro = subscription("s1", Plans.pro)
        #expect(!pro.isUpgrade(to: Plans.starter(), at: apr16))
        let instant = pro.changeInstant(to: Plans.starter(), timing: nil, now: apr16)
        #expect(instant == may1)
        var usage = Usage()
        usage.add(500, subscription: "s1", at: apr11)
        let old = subscription("s1", Plans.pro, end: instant)
        let new = subscription("s2", Plans.starter(), start: instant, anchor: pro.billingAnchor(at: instant), origin: .change(from: "s1"))
        // April's usage 500 x 0.002 = 1.00 on Pro; Starter's May fee 29.00 as a plain fee.
        #expect(amounts(draft([old, new], at: may1, usage: usage)) == ["usage 1", "fee 29"])
    }

    @Test func upgradeIsImmediateByDefault() {
        let starter = subscription("s1", Plans.starter())
        #expect(starter.isUpgrade(to: Plans.pro, at: apr16))
        #expect(starter.changeInstant(to: Plans.pro, timing: nil, now: apr16) == apr16)
        #expect(starter.changeInstant(to: Plans.pro, timing: .nextBillingCycle, now: apr16) == may1)
    }

    @Test func immediateDowngradeIsSplitLikeAnUpgrade() {
        // Pro has no quota, so consumed = 15/30: credit 99.00 x 15/30 = 49.50.
        // Starter for the rest of April: 29.00 x 15/30 = 14.50; May in advance 29.00.
        // Charges 0.00 + 29.00 + 14.50 = 43.50 absorb -43.50 of the credit; -6.00 carries.
        let old = subscription("s1", Plans.pro, end: apr16)
        let new = subscription("s2", Plans.starter(), start: apr16, origin: .change(from: "s1"))
        let invoice = draft([old, new], at: may1)
        #expect(amounts(invoice) == ["usage 0", "fee 29", "proration_charge 14.5", "proration_credit -43.5"])
        #expect(invoice.carriedCredits.map(\.line.amount) == [d("-6.00")])
    }

    @Test func immediateCancellationCreditsTheUnusedFeeAndCarriesWhatIsLeft() {
        // Cancelled after 10 days with 1,000 requests: usage 2.00; credit 99.00 x 20/30 = 66.00.
        // Only 2.00 can be absorbed: -2.00 applied, -64.00 carried.
        var usage = Usage()
        usage.add(1_000, subscription: "s1", at: t("2026-04-05T00:00:00Z"))
        let sub = subscription("s1", Plans.pro, end: apr11)
        let invoice = draft([sub], at: may1, usage: usage)
        #expect(amounts(invoice) == ["usage 2", "proration_credit -2"])
        #expect(invoice.subtotal == 0)
        #expect(invoice.carriedCredits.map(\.line.amount) == [d("-64.00")])
        #expect(invoice.carriedCredits[0].line.kind == .prorationCredit)
        #expect(invoice.carriedCredits[0].line.rateCardKey == "platform_fee")
        // No invoice falls due after the final bill date.
        #expect(sub.finalBillDate == may1)
        #expect(draft([sub], at: jun1).lines.isEmpty)
    }

    @Test func cancellationCreditUsesTheQuotaConsumed() {
        // Starter cancelled after 10 of 30 days with 2,000 of 10,000 requests:
        // consumed = max(10/30, 0.2) = 1/3 -> credit 29.00 x 2/3 = 19.333 -> 19.33, all carried.
        var usage = Usage()
        usage.add(2_000, subscription: "s1", at: t("2026-04-02T00:00:00Z"))
        let invoice = draft([subscription("s1", Plans.starter(), end: apr11)], at: may1, usage: usage)
        #expect(invoice.lines.isEmpty)
        #expect(invoice.carriedCredits.map(\.line.amount) == [d("-19.33")])
    }

    @Test func cancellationAtTheNextBillingCycleKeepsAccessToThePeriodEnd() {
        let sub = subscription("s1", Plans.pro)
        let end = sub.cancellationEnd(timing: .nextBillingCycle, now: apr16)
        #expect(end == may1)
        let cancelled = subscription("s1", Plans.pro, end: end)
        #expect(cancelled.status(at: apr16) == .canceled)
        #expect(cancelled.status(at: may1) == .inactive)
        // April's usage, no credit, no May fee.
        #expect(amounts(draft([cancelled], at: may1)) == ["usage 0"])
    }

    @Test func cancellationAtATimeIsBilledLikeAnImmediateOneThen() {
        let sub = subscription("s1", Plans.pro)
        let end = sub.cancellationEnd(timing: ChangeTiming("2026-04-16T00:00:00Z")!, now: apr1)
        #expect(end == apr16)
        // Credit 99.00 x 15/30 = 49.50 against usage 0.00: all of it carried.
        let invoice = draft([subscription("s1", Plans.pro, end: end)], at: may1)
        #expect(invoice.carriedCredits.map(\.line.amount) == [d("-49.50")])
    }

    @Test func theSameFactsBillTheSameCentsWhateverTheyWereTyped() {
        // A cancellation for May 16 scheduled before May 1 is closed: the May fee is still whole
        // at May 1 (99.00), and the unused half comes back at June 1 as a credit: 99.00 x 16/31.
        let scheduled = subscription("s1", Plans.pro, end: t("2026-05-16T00:00:00Z"))
        let open = subscription("s1", Plans.pro)
        #expect(draft([scheduled], at: may1) == draft([open], at: may1))
        // May has 31 days; 16 unused: 99.00 x 16 / 31 = 51.096... -> 51.10, all carried.
        #expect(draft([scheduled], at: jun1).carriedCredits.map(\.line.amount) == [d("-51.10")])
    }

    @Test func freeTrialPhaseBillsNothingThenPeriodsStepFromThePaidPhase() {
        let sub = subscription("s1", Plans.trial)
        // Trial Apr 1 - Apr 15, then monthly from Apr 15.
        #expect(sub.billDates(after: nil, through: t("2026-06-20T00:00:00Z")) ==
                [apr1, t("2026-04-15T00:00:00Z"), t("2026-05-15T00:00:00Z"), t("2026-06-15T00:00:00Z")])
        #expect(draft([sub], at: apr1).lines.isEmpty)
        let paid = draft([sub], at: t("2026-04-15T00:00:00Z"))
        #expect(amounts(paid) == ["fee 49"])
        #expect(paid.lines[0].period == Period(start: t("2026-04-15T00:00:00Z"), end: t("2026-05-15T00:00:00Z")))
        // A free trial cancels at once, whatever the timing.
        #expect(sub.cancellationEnd(timing: .nextBillingCycle, now: t("2026-04-05T00:00:00Z")) == t("2026-04-05T00:00:00Z"))
    }

    @Test func aChangeSkipsTheTrialAndOneTimeFees() {
        // Team with a 100.00 set-up fee on its paid phase: a new subscriber pays it when the
        // trial ends, a plan change does not, and a change enters the paid phase at once.
        var team = Plans.trial
        team.phases[1].rateCards.append(Plans.fee("100.00", key: "setup", cadence: nil))
        #expect(amounts(draft([subscription("s0", team)], at: t("2026-04-15T00:00:00Z"))) == ["fee 49", "fee 100"])
        let changed = subscription("s2", team, start: apr16, origin: .change(from: "s1"))
        #expect(changed.phaseWindows.map(\.phase.key) == ["default"])
        // 49.00 x 15/30 = 24.50 for the rest of April, May's 49.00.
        #expect(amounts(draft([changed], at: may1)) == ["fee 49", "proration_charge 24.5"])
    }

    @Test func oneTimeFeeInArrearsIsBilledOnTheLastInvoice() {
        let plan = Plans.plan("project", [Plans.fee("10.00"), Plans.fee("250.00", key: "offboarding", term: .inArrears, cadence: nil)])
        let sub = subscription("s1", plan, end: t("2026-05-20T00:00:00Z"))
        #expect(amounts(draft([sub], at: may1)) == ["fee 10"])
        // Final bill date Jun 1: the one-time fee and the credit 10.00 x 12/31 = 3.87.
        #expect(amounts(draft([sub], at: jun1)) == ["fee 250", "proration_credit -3.87"])
    }

    @Test func prorationDisabledBillsWholeFeesAndNoCredit() {
        let plan = Plans.starter(enabled: false)
        let partial = subscription("s1", plan, start: t("2026-04-10T00:00:00Z"), anchor: may1)
        #expect(amounts(draft([partial], at: t("2026-04-10T00:00:00Z"))) == ["fee 29"])
        let cancelled = subscription("s1", plan, end: apr11)
        let final = draft([cancelled], at: may1)
        #expect(final.lines.isEmpty && final.carriedCredits.isEmpty)
    }

    @Test func carriedCreditsApplyOldestFirstOnTheNextInvoice() {
        // June: 99.00 fee; carried -64.00 (Apr) and -50.00 (May): -64.00 then -35.00 applied,
        // -15.00 of May's credit carries on.
        let credit = { (amount: String, date: Instant) in
            CarriedCredit(line: InvoiceLine(kind: .prorationCredit, subscriptionId: "s0", rateCardKey: "platform_fee",
                                            description: "Unused Platform fee", period: Period(start: date, end: date),
                                            amount: d(amount)), originBillDate: date)
        }
        let invoice = draft([subscription("s1", Plans.pro, start: jun1, anchor: jun1)], at: jun1,
                            carried: [credit("-50.00", may1), credit("-64.00", apr1)])
        #expect(amounts(invoice) == ["fee 99", "proration_credit -64", "proration_credit -35"])
        #expect(invoice.subtotal == 0)
        #expect(invoice.carriedCredits.map(\.line.amount) == [d("-15.00")])
        #expect(invoice.carriedCredits[0].originBillDate == may1)
    }

    @Test func lateUsageIsRecomputedWithAllThePeriodsUsage() {
        // Graduated: first 1,000 at 0.10, the rest at 0.05. April billed 800 -> 80.00.
        // 400 more April events arrive late: 1,000 x 0.10 + 200 x 0.05 = 110.00; 110.00 - 80.00 = 30.00.
        let tiers: Price = .tiered(mode: .graduated, tiers: [Tier(upToAmount: 1000, unitPrice: d("0.10")),
                                                             Tier(upToAmount: nil, unitPrice: d("0.05"))],
                                   commitments: Commitments())
        let plan = Plans.plan("metered", [Plans.requestsCard(tiers)])
        let sub = subscription("s1", plan)
        var usage = Usage()
        usage.add(800, subscription: "s1", at: apr11)
        #expect(amounts(draft([sub], at: may1, usage: usage)) == ["usage 80"])
        usage.add(400, subscription: "s1", at: t("2026-04-30T23:59:59Z"))
        usage.add(100, subscription: "s1", at: t("2026-05-03T00:00:00Z"))
        let key = ChargeKey(subscriptionId: "s1", rateCardKey: "api_requests", periodStart: apr1)
        let june = draft([sub], at: jun1, usage: usage, billed: [key: d("80.00")])
        // May: 100 x 0.10 = 10.00; April's late usage 30.00.
        #expect(amounts(june) == ["usage 10", "late_usage 30"])
        #expect(june.lines[1].period == Period(start: apr1, end: may1))
        // Once billed, the same period gives no further line.
        #expect(amounts(draft([sub], at: jun1, usage: usage, billed: [key: d("110.00")])) == ["usage 10"])
    }

    @Test func minimumCommitmentIsProratedInAPartialPeriod() {
        // Start Apr 16 with anchor Apr 1: 15/30 of the period. 1,000 x 0.01 = 10.00;
        // minimum 300.00 x 15/30 = 150.00 -> commitment 150.00 - 10.00 = 140.00.
        let price: Price = .unit(amount: d("0.01"), commitments: Commitments(minimumAmount: d("300.00")))
        let sub = subscription("s1", Plans.plan("committed", [Plans.requestsCard(price)]), start: apr16)
        var usage = Usage()
        usage.add(1_000, subscription: "s1", at: t("2026-04-20T00:00:00Z"))
        let invoice = draft([sub], at: may1, usage: usage)
        #expect(amounts(invoice) == ["usage 10", "commitment 140"])
        #expect(invoice.lines[1].detail == "minimum 300.00 x 15/30 days")
    }

    @Test func percentageDiscountOnAFeeLowersTheFeePrice() {
        // 29.00 less 10% = 26.10 a month; half a month 26.10 x 15/30 = 13.05.
        let plan = Plans.plan("discounted", [Plans.fee("29.00", discount: "10")])
        #expect(amounts(draft([subscription("s1", plan)], at: apr1)) == ["fee 26.1"])
        #expect(amounts(draft([subscription("s1", plan, start: apr16)], at: apr16)) == ["fee 13.05"])
    }

    @Test func oneInvoicePerCustomerPerBillDateHoldsEverySubscriptionsLines() {
        let invoice = upgrade(.maxConsumptionBased)
        #expect(Set(invoice.lines.compactMap(\.subscriptionId)) == ["s1", "s2"])
        // Starter bills no usage, so the lines span Pro's part of April and May.
        #expect(invoice.servicePeriod == Period(start: apr16, end: jun1))
    }

    @Test func aSuccessorKeepsTheBillingAnchorOfThePhaseItLeaves() {
        let trial = subscription("s1", Plans.trial)
        // In the trial, the anchor is the subscription's; in the paid phase, the phase start.
        #expect(trial.billingAnchor(at: t("2026-04-05T00:00:00Z")) == apr1)
        #expect(trial.billingAnchor(at: t("2026-05-20T00:00:00Z")) == t("2026-04-15T00:00:00Z"))
    }

    @Test func subscriptionStatusFollowsItsWindow() {
        let sub = subscription("s1", Plans.pro, start: apr16, end: jun1)
        #expect(sub.status(at: apr1) == .scheduled)
        #expect(sub.status(at: may1) == .canceled)
        #expect(sub.status(at: jun1) == .inactive)
        #expect(subscription("s2", Plans.pro).status(at: jun1) == .active)
    }
}

@Suite struct InvoiceTaxTests {
    func line(_ kind: LineKind, _ amount: String, _ behavior: TaxBehavior = .exclusive, key: String = "fee") -> InvoiceLine {
        InvoiceLine(kind: kind, subscriptionId: "s1", rateCardKey: key, description: key,
                    period: Period(start: t("2026-04-01T00:00:00Z"), end: t("2026-05-01T00:00:00Z")),
                    amount: d(amount), taxBehavior: behavior)
    }

    let vat = TaxDecision.apply(TaxRate(country: "DE", rate: d("0.19"), name: "VAT"))

    @Test func zeroTotalRuleRaisesTheLastExclusiveCreditsTax() {
        // 0.07 + 0.07 at 19%: 0.0133 -> 0.01 each; credit -0.14: -0.0266 -> -0.03.
        // Subtotal 0, total 0 + 0.01 + 0.01 - 0.03 = -0.01: the credit's tax becomes -0.02.
        let invoice = DraftInvoice(customerKey: "acme", currency: .eur, billDate: t("2026-05-01T00:00:00Z"),
                                   lines: [line(.fee, "0.07"), line(.fee, "0.07", key: "other"), line(.prorationCredit, "-0.14")])
        let taxed = InvoiceTax.apply(vat, to: invoice)
        #expect(taxed.lines.map(\.taxAmount) == [d("0.01"), d("0.01"), d("-0.02")])
        #expect(taxed.total == 0)
    }

    @Test func zeroTotalRuleWithAnInclusiveChargeAndAnExclusiveCredit() {
        // Inclusive 119.00: tax 119.00 - round(119.00 / 1.19) = 19.00. Exclusive credit -119.00:
        // tax -22.61. Total = 0 + (-22.61) = -22.61: the credit's tax becomes 0.00; invoice tax 19.00.
        let invoice = DraftInvoice(customerKey: "acme", currency: .eur, billDate: t("2026-05-01T00:00:00Z"),
                                   lines: [line(.fee, "119.00", .inclusive), line(.prorationCredit, "-119.00")])
        let taxed = InvoiceTax.apply(vat, to: invoice)
        #expect(taxed.lines.map(\.taxAmount) == [d("19.00"), d("0.00")])
        #expect(taxed.tax == d("19.00"))
        #expect(taxed.total == 0)
    }

    @Test func exemptCustomersPayNoTax() {
        let invoice = DraftInvoice(customerKey: "acme", currency: .eur, billDate: t("2026-05-01T00:00:00Z"),
                                   lines: [line(.fee, "100.00")])
        #expect(InvoiceTax.apply(.exempt, to: invoice).tax == 0)
        #expect(InvoiceTax.apply(.reverseCharge, to: invoice).total == d("100.00"))
        // Exclusive 19% on 100.00 = 19.00; total 119.00.
        #expect(InvoiceTax.apply(vat, to: invoice).total == d("119.00"))
    }
}

@Suite struct CurrencyRuleTests {
    @Test func jpyFeesRoundToWholeYen() throws {
        // 999 JPY a month; start Apr 10 with anchor May 1: 999 x 21 / 30 = 699.3 -> 699.
        let plan = Plans.plan("yen", [Plans.fee("999")], currency: .jpy)
        let sub = Subscription(id: "s1", customerKey: "acme", plan: plan, anchor: t("2026-05-01T00:00:00Z"),
                               start: t("2026-04-10T00:00:00Z"))
        let line = try SubscriptionBiller(catalog: Plans.catalog, usage: RecordedUsage()).lines(for: sub, at: sub.start)[0]
        #expect(line.amount == 699)
        #expect(Money(line.amount, .jpy).minorUnits == 699)
    }

    @Test func threeDecimalCurrenciesBillInHundredths() throws {
        // 10.000 BHD; 10 x 21 / 30 = 7.0 exactly; 10.001 x 21 / 30 = 7.0007 -> 7.00 -> Stripe 7000.
        let plan = Plans.plan("dinar", [Plans.fee("10.001")], currency: Currency(code: "BHD")!)
        let sub = Subscription(id: "s1", customerKey: "acme", plan: plan, anchor: t("2026-05-01T00:00:00Z"),
                               start: t("2026-04-10T00:00:00Z"))
        let line = try SubscriptionBiller(catalog: Plans.catalog, usage: RecordedUsage()).lines(for: sub, at: sub.start)[0]
        #expect(line.amount == d("7.00"))
        #expect(Money(line.amount, plan.currency).minorUnits == 7000)
    }
}

@Suite struct SubscriptionLifecycleTests {
    let apr1 = t("2026-04-01T00:00:00Z")

    @Test func reactivateRemovesAPendingCancellationOnly() {
        let cancelled = Subscription(id: "s1", customerKey: "acme", plan: Plans.pro, start: apr1, end: t("2026-05-01T00:00:00Z"))
        #expect(cancelled.reactivated(at: t("2026-04-20T00:00:00Z"))?.end == nil)
        #expect(cancelled.reactivated(at: t("2026-05-01T00:00:00Z")) == nil)
        #expect(Subscription(id: "s2", customerKey: "acme", plan: Plans.pro, start: apr1).reactivated(at: apr1) == nil)
    }

    @Test func lateUsageAfterTheLastSubscriptionBillsAtTheNextAnchorBoundary() {
        // Ended May 1; a bill run on Jul 10 sees late April events: the next boundary is Aug 1.
        let ended = Subscription(id: "s1", customerKey: "acme", plan: Plans.pro, start: apr1, end: t("2026-05-01T00:00:00Z"))
        #expect(ended.anchorBoundary(after: t("2026-07-10T00:00:00Z")) == t("2026-08-01T00:00:00Z"))
        #expect(ended.anchorBoundary(after: t("2026-08-01T00:00:00Z")) == t("2026-09-01T00:00:00Z"))
    }

    @Test func aPlanMustBeInTheCustomersCurrency() {
        #expect(Subscription.currencyProblem(plan: Plans.pro, customerKey: "acme", customerCurrency: .usd) == nil)
        #expect(Subscription.currencyProblem(plan: Plans.pro, customerKey: "acme", customerCurrency: nil) == nil)
        #expect(Subscription.currencyProblem(plan: Plans.pro, customerKey: "acme", customerCurrency: .eur) ==
                "plan pro v1 is priced in USD but customer acme is billed in EUR: choose a plan in EUR")
    }
}
