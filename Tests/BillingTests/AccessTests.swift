import Foundation
import Testing
@testable import Billing

@Suite struct QuotaTests {
    let hard = MeteredEntitlement(issueAfterReset: d("10000"))
    let soft = MeteredEntitlement(issueAfterReset: d("10000"), isSoftLimit: true)

    @Test func hardLimitDeniesOnceUsageReachesTheQuota() {
        // 9,999 used < 10,000: allowed; after this request 10,000 - (9,999 + 1) = 0 remain.
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("9999")) == .allowed(remaining: 0))
        // 10,000 used >= 10,000: denied.
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("10000")) == .denied(used: d("10000"), limit: d("10000")))
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("12000")) == .denied(used: d("12000"), limit: d("10000")))
        // 2,500 used: 10,000 - 2,501 = 7,499 remain.
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("2500")) == .allowed(remaining: d("7499")))
    }

    @Test func aRequestThatCrossesTheHardLimitIsStillAllowed() {
        // 9,990 used < 10,000, so a request of 50 goes through; nothing remains after it.
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("9990"), requested: d("50")) == .allowed(remaining: 0))
        // A zero-size check reports what is left: 10,000 - 9,990 = 10.
        #expect(Quota.decide(entitlement: hard, usedInPeriod: d("9990"), requested: 0) == .allowed(remaining: d("10")))
    }

    @Test func aZeroQuotaDeniesTheFirstRequest() {
        #expect(Quota.decide(entitlement: MeteredEntitlement(issueAfterReset: 0), usedInPeriod: 0) == .denied(used: 0, limit: 0))
    }

    @Test func softLimitAllowsAndReportsTheOverage() {
        // 9,999 + 1 = 10,000, not above the quota: allowed with 0 remaining.
        #expect(Quota.decide(entitlement: soft, usedInPeriod: d("9999")) == .allowed(remaining: 0))
        // 10,000 + 1 = 10,001: 1 over.
        #expect(Quota.decide(entitlement: soft, usedInPeriod: d("10000")) == .overage(over: 1))
        // 12,000 + 25.5 = 12,025.5: 2,025.5 over.
        #expect(Quota.decide(entitlement: soft, usedInPeriod: d("12000"), requested: d("25.5")) == .overage(over: d("2025.5")))
    }

    @Test func aDailyUsagePeriodInsideAMonthlySubscription() {
        // Anchor and start Jan 31 00:00; P1D usage periods step from the anchor, so the one
        // holding Feb 14 15:30 is [Feb 14 00:00, Feb 15 00:00).
        let daily = MeteredEntitlement(issueAfterReset: d("1000"), usagePeriod: ISODuration("P1D")!)
        let period = Quota.usagePeriod(entitlement: daily, rateCardCadence: ISODuration("P1M")!,
                                       subscriptionAnchor: t("2026-01-31T00:00:00Z"), subscriptionStart: t("2026-01-31T00:00:00Z"),
                                       now: t("2026-02-14T15:30:00Z"))
        #expect(period == Period(start: t("2026-02-14T00:00:00Z"), end: t("2026-02-15T00:00:00Z")))
        // The boundary itself opens the next day (half-open).
        let atMidnight = Quota.usagePeriod(entitlement: daily, rateCardCadence: ISODuration("P1M")!,
                                           subscriptionAnchor: t("2026-01-31T00:00:00Z"), subscriptionStart: t("2026-01-31T00:00:00Z"),
                                           now: t("2026-02-15T00:00:00Z"))
        #expect(atMidnight == Period(start: t("2026-02-15T00:00:00Z"), end: t("2026-02-16T00:00:00Z")))
    }

    @Test func theUsagePeriodDefaultsToTheRateCardCadence() {
        // Monthly from Jan 31: Feb 28, Mar 31; Mar 5 lies in [Feb 28, Mar 31).
        let period = Quota.usagePeriod(entitlement: hard, rateCardCadence: ISODuration("P1M")!,
                                       subscriptionAnchor: t("2026-01-31T00:00:00Z"), subscriptionStart: t("2026-01-31T00:00:00Z"),
                                       now: t("2026-03-05T12:00:00Z"))
        #expect(period == Period(start: t("2026-02-28T00:00:00Z"), end: t("2026-03-31T00:00:00Z")))
    }

    @Test func quotaRestartsAtAPlanChange() {
        // A change at Feb 14 10:00 starts a new subscription keeping the Jan 31 anchor: its first
        // daily usage period is cut to [Feb 14 10:00, Feb 15 00:00), so usage before 10:00 is not counted.
        let daily = MeteredEntitlement(issueAfterReset: d("1000"), usagePeriod: ISODuration("P1D")!)
        let period = Quota.usagePeriod(entitlement: daily, rateCardCadence: ISODuration("P1M")!,
                                       subscriptionAnchor: t("2026-01-31T00:00:00Z"), subscriptionStart: t("2026-02-14T10:00:00Z"),
                                       now: t("2026-02-14T15:30:00Z"))
        #expect(period == Period(start: t("2026-02-14T10:00:00Z"), end: t("2026-02-15T00:00:00Z")))
        // Before the subscription starts there is no usage period.
        #expect(Quota.usagePeriod(entitlement: daily, rateCardCadence: ISODuration("P1M")!,
                                  subscriptionAnchor: t("2026-01-31T00:00:00Z"), subscriptionStart: t("2026-02-14T10:00:00Z"),
                                  now: t("2026-02-14T09:59:59Z")) == nil)
    }
}

@Suite struct PaymentAccessTests {
    let now = t("2026-03-10T12:00:00Z")

    func failed(_ id: String, at text: String) -> InvoicePaymentFacts {
        InvoicePaymentFacts(id: id, status: .paymentFailed, firstPaymentFailureAt: t(text))
    }

    @Test func paidNotRequiredAndIssuedInvoicesGiveAccess() {
        let invoices = [InvoicePaymentFacts(id: "in_1", status: .paid),
                        InvoicePaymentFacts(id: "in_2", status: .notRequired),
                        InvoicePaymentFacts(id: "in_3", status: .issued)]
        #expect(PaymentAccess.decide(invoices: invoices, graceDays: 3, now: now) == .allowed)
        #expect(PaymentAccess.decide(invoices: [], graceDays: 0, now: now) == .allowed)
    }

    @Test func aFailedPaymentIsInGraceUntilTheExactInstant() {
        // Failed Mar 8 12:00, 2 days ago; 3 grace days: until Mar 8 12:00 + 3 x 86,400 s = Mar 11 12:00.
        let decision = PaymentAccess.decide(invoices: [failed("in_1", at: "2026-03-08T12:00:00Z")], graceDays: 3, now: now)
        #expect(decision == .inGracePeriod(invoiceId: "in_1", until: t("2026-03-11T12:00:00Z")))
    }

    @Test func graceEndsAtFailurePlusGraceDaysHalfOpen() {
        // Failed Mar 7 12:00 with 3 grace days: access ends at Mar 10 12:00, which is now.
        let invoices = [failed("in_1", at: "2026-03-07T12:00:00Z")]
        #expect(PaymentAccess.decide(invoices: invoices, graceDays: 3, now: now) == .blocked(
            invoiceId: "in_1",
            reason: "invoice in_1 payment failed 3 days ago; grace period of 3 days is over: pay the invoice to restore access"))
        // One second earlier is the last second of grace.
        #expect(PaymentAccess.decide(invoices: invoices, graceDays: 3, now: t("2026-03-10T11:59:59Z"))
            == .inGracePeriod(invoiceId: "in_1", until: now))
    }

    @Test func theBlockedReasonNamesTheInvoiceAndTheDays() {
        // Failed Mar 5 12:00: 5 days before now, grace of 3 days ended Mar 8 12:00.
        let decision = PaymentAccess.decide(invoices: [failed("in_5", at: "2026-03-05T12:00:00Z")], graceDays: 3, now: now)
        #expect(decision == .blocked(
            invoiceId: "in_5",
            reason: "invoice in_5 payment failed 5 days ago; grace period of 3 days is over: pay the invoice to restore access"))
    }

    @Test func zeroGraceDaysBlockAtOnce() {
        let decision = PaymentAccess.decide(invoices: [failed("in_1", at: "2026-03-10T12:00:00Z")], graceDays: 0, now: now)
        #expect(decision == .blocked(
            invoiceId: "in_1",
            reason: "invoice in_1 payment failed less than a day ago; there is no grace period: pay the invoice to restore access"))
    }

    @Test func uncollectibleBlocks() {
        let decision = PaymentAccess.decide(invoices: [InvoicePaymentFacts(id: "in_9", status: .uncollectible)], graceDays: 30, now: now)
        #expect(decision == .blocked(invoiceId: "in_9",
                                     reason: "invoice in_9 was marked uncollectible: pay the invoice to restore access"))
    }

    @Test func voidIsIgnored() {
        // A void invoice keeps its old failure time but no longer counts.
        let voided = InvoicePaymentFacts(id: "in_1", status: .void, firstPaymentFailureAt: t("2026-01-01T00:00:00Z"))
        #expect(PaymentAccess.decide(invoices: [voided], graceDays: 0, now: now) == .allowed)
    }

    @Test func invoicesTollboothHasNotIssuedNeverBlock() {
        let unissued: [InvoiceStatus] = [.draft, .rated, .taxed, .issuing, .failed]
        let invoices = unissued.map { InvoicePaymentFacts(id: "in_\($0.rawValue)", status: $0, firstPaymentFailureAt: t("2026-01-01T00:00:00Z")) }
        #expect(PaymentAccess.decide(invoices: invoices, graceDays: 0, now: now) == .allowed)
    }

    @Test func blockedWinsOverGrace() {
        let invoices = [failed("in_a", at: "2026-03-09T12:00:00Z"), InvoicePaymentFacts(id: "in_b", status: .uncollectible)]
        guard case .blocked(let id, _) = PaymentAccess.decide(invoices: invoices, graceDays: 3, now: now) else {
            Issue.record("expected blocked")
            return
        }
        #expect(id == "in_b")
    }

    @Test func theDecisionDoesNotDependOnInvoiceOrder() {
        // Grace: the one ending first (Mar 9 00:00 + 3 d = Mar 12 00:00, before Mar 12 12:00) is named.
        let grace = [failed("in_b", at: "2026-03-09T12:00:00Z"), failed("in_a", at: "2026-03-09T00:00:00Z")]
        #expect(PaymentAccess.decide(invoices: grace, graceDays: 3, now: now) == .inGracePeriod(invoiceId: "in_a", until: t("2026-03-12T00:00:00Z")))
        #expect(PaymentAccess.decide(invoices: grace.reversed(), graceDays: 3, now: now) == .inGracePeriod(invoiceId: "in_a", until: t("2026-03-12T00:00:00Z")))
        // Blocked: the smallest id is named.
        let blocked = [InvoicePaymentFacts(id: "in_z", status: .uncollectible), InvoicePaymentFacts(id: "in_c", status: .uncollectible)]
        #expect(PaymentAccess.decide(invoices: blocked, graceDays: 3, now: now)
            == PaymentAccess.decide(invoices: blocked.reversed(), graceDays: 3, now: now))
    }

    @Test func aFailureWithoutARecordedTimeCountsFromNow() {
        // Until now + 3 x 86,400 s = Mar 13 12:00.
        let invoice = InvoicePaymentFacts(id: "in_1", status: .paymentFailed)
        #expect(PaymentAccess.decide(invoices: [invoice], graceDays: 3, now: now) == .inGracePeriod(invoiceId: "in_1", until: t("2026-03-13T12:00:00Z")))
    }

    // MARK: Grace days

    @Test func graceDaysComeFromTheCustomerFirst() {
        #expect(PaymentAccess.graceDays(customerMetadata: ["max_payment_overdue_days": "7"],
                                        planMetadata: ["max_payment_overdue_days": "5"], installationDefault: 4) == 7)
    }

    @Test func graceDaysComeFromThePlanSecond() {
        #expect(PaymentAccess.graceDays(customerMetadata: [:],
                                        planMetadata: ["max_payment_overdue_days": "5"], installationDefault: 4) == 5)
    }

    @Test func graceDaysComeFromTheInstallationThird() {
        #expect(PaymentAccess.graceDays(customerMetadata: [:], planMetadata: [:], installationDefault: 4) == 4)
        #expect(PaymentAccess.graceDays(customerMetadata: [:], planMetadata: [:], installationDefault: 0) == 0)
    }

    @Test func graceDaysDefaultToThree() {
        #expect(PaymentAccess.graceDays(customerMetadata: [:], planMetadata: [:], installationDefault: nil) == 3)
        #expect(PaymentAccess.graceDays(customerMetadata: [:], planMetadata: [:], installationDefault: -1) == 3)
    }

    @Test func aZeroInCustomerMetadataIsHonoured() {
        #expect(PaymentAccess.graceDays(customerMetadata: ["max_payment_overdue_days": "0"],
                                        planMetadata: ["max_payment_overdue_days": "5"], installationDefault: 4) == 0)
    }

    @Test func malformedMetadataFallsThroughToTheNextLevel() {
        for bad in ["-1", "3.0", " 3", "three", "", "+3", "99999999999999999999999"] {
            #expect(PaymentAccess.graceDays(customerMetadata: ["max_payment_overdue_days": bad],
                                            planMetadata: ["max_payment_overdue_days": "5"], installationDefault: 4) == 5)
            #expect(PaymentAccess.graceDays(customerMetadata: ["max_payment_overdue_days": bad],
                                            planMetadata: ["max_payment_overdue_days": bad], installationDefault: 4) == 4)
        }
    }
}
