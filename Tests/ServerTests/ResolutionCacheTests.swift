import Foundation
import Testing
@testable import Billing
@testable import Metering
@testable import Server

/// A check's resolution is kept between the boundaries around the instant it was asked at; asked
/// again at any instant, in any order, it must be what resolving afresh gives.
@Suite struct ResolutionCacheTests {
    static let requests = Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count)
    static let monthly = ISODuration("P1M")!

    static func card(_ quota: String, daily: Bool) -> RateCard {
        RateCard(type: .usageBased, key: "api_requests", name: "API requests", featureKey: "api_requests", billingCadence: monthly,
                 price: nil, entitlementTemplate: .metered(MeteredEntitlement(issueAfterReset: Decimal(string: quota)!, usagePeriod: daily ? ISODuration("P1D")! : nil)))
    }

    /// A 3-day trial with a daily quota of 10, then a monthly quota of 1,000; for "acme", the
    /// trial plan until Dec 20, then a plan without the feature until Dec 25, then nothing.
    static func snapshot(withInvoice: Bool = false) -> AccessSnapshot {
        let trial = Plan(key: "team", name: "Team", currency: .usd, billingCadence: monthly, phases: [
            Phase(key: "trial", name: "Trial", duration: ISODuration("P3D")!, rateCards: [card("10", daily: true)]),
            Phase(key: "default", name: "Default", rateCards: [card("1000", daily: false)]),
        ])
        let bare = Plan(key: "bare", name: "Bare", currency: .usd, billingCadence: monthly,
                        phases: [Phase(key: "default", name: "Default", rateCards: [])])
        var snapshot = AccessSnapshot()
        snapshot.catalog = Catalog(meters: [requests], features: [Feature(key: "api_requests", name: "API requests", meterSlug: "api_requests")],
                                   plans: [trial, bare])
        snapshot.subjects = ["acme_prod": "acme"]
        snapshot.customers = ["acme": Customer(key: "acme", name: "Acme")]
        snapshot.subscriptions = ["acme": [
            Subscription(id: "sub_1", customerKey: "acme", plan: trial, start: at("2026-12-01T10:00:00Z"), end: at("2026-12-20T00:00:00Z")),
            Subscription(id: "sub_2", customerKey: "acme", plan: bare, start: at("2026-12-20T00:00:00Z"), end: at("2026-12-25T00:00:00Z")),
        ]]
        return snapshot
    }

    static func at(_ text: String) -> Instant { Instant(rfc3339: text)! }

    /// What a resolution decides: the subscription, card and usage period, or the denial.
    static func outcome(_ result: Result<ResolvedCheck, Entitlements.Denial>) -> String {
        switch result {
        case .success(let resolved):
            return "\(resolved.subscription.id) \(resolved.card.key) \(resolved.entitlement?.issueAfterReset ?? -1) \(resolved.usageKey?.period.description ?? "-")"
        case .failure(let denial):
            return "denied: \(denial)"
        }
    }

    @Test func keptResolutionsAreWhatResolvingAfreshGives() {
        let cached = AccessState(snapshot: Self.snapshot(), maxPaymentOverdueDays: 7)
        let request = CheckRequest(subject: "acme_prod", feature: "api_requests")
        // Every boundary and the seconds either side of it, then the same instants backwards
        // and shuffled: a kept resolution is asked about at instants before and after its own.
        let boundaries = ["2026-12-01T10:00:00Z", "2026-12-02T00:00:00Z", "2026-12-02T10:00:00Z", "2026-12-03T10:00:00Z",
                          "2026-12-04T10:00:00Z", "2026-12-05T00:00:00Z", "2027-01-01T10:00:00Z", "2026-12-20T00:00:00Z",
                          "2026-12-25T00:00:00Z"].map(Self.at)
        var instants = boundaries.flatMap { [$0 + -1, $0, $0 + 1, $0 + 3_600] }.sorted()
        instants += instants.reversed()
        var generator = SystemRandomNumberGenerator()
        instants += instants.shuffled(using: &generator)
        var seen = Set<String>()
        for instant in instants {
            let fresh = AccessState(snapshot: Self.snapshot(), maxPaymentOverdueDays: 7)
            let expected = Self.outcome(fresh.resolve(request, at: instant))
            #expect(Self.outcome(cached.resolve(request, at: instant)) == expected, "at \(instant)")
            seen.insert(expected)
        }
        // The instants cross daily trial periods, the default phase, the plan change and the end.
        #expect(seen.filter { $0.hasPrefix("sub_1 api_requests 10 ") }.count >= 3, "\(seen)")
        #expect(seen.contains { $0.hasPrefix("sub_1 api_requests 1000 ") }, "\(seen)")
        #expect(seen.contains("denied: \(Entitlements.Denial.featureNotInSubscription(feature: "api_requests", plan: "bare"))"), "\(seen)")
        #expect(seen.contains("denied: \(Entitlements.Denial.noSubscription(customer: "acme"))"), "\(seen)")
    }

    @Test func aNewSnapshotIsNeverAnsweredFromTheOldOnesResolutions() {
        let state = AccessState(snapshot: Self.snapshot(), maxPaymentOverdueDays: 7)
        let request = CheckRequest(subject: "acme_prod", feature: "api_requests")
        let now = Self.at("2026-12-10T12:00:00Z")
        #expect(Self.outcome(state.resolve(request, at: now)).hasPrefix("sub_1 "))
        var cancelled = Self.snapshot()
        cancelled.subscriptions["acme"] = [cancelled.subscriptions["acme"]![0]]
        cancelled.subscriptions["acme"]![0].end = Self.at("2026-12-10T00:00:00Z")
        state.replace(cancelled)
        #expect(Self.outcome(state.resolve(request, at: now)) == "denied: \(Entitlements.Denial.noSubscription(customer: "acme"))")
    }

    /// A failed payment's grace runs out with no change to the snapshot: its customer's checks
    /// are resolved every time, so the first check after the grace is refused.
    @Test func aCustomerWithAFailedPaymentIsResolvedEveryTime() {
        var snapshot = Self.snapshot()
        snapshot.payments["acme"] = [InvoicePaymentFacts(id: "inv_1", status: .paymentFailed, firstPaymentFailureAt: Self.at("2026-12-05T00:00:00Z"))]
        let state = AccessState(snapshot: snapshot, maxPaymentOverdueDays: 7)
        let request = CheckRequest(subject: "acme_prod", feature: "api_requests")
        #expect(Self.outcome(state.resolve(request, at: Self.at("2026-12-11T23:59:59Z"))).hasPrefix("sub_1 "))
        #expect(Self.outcome(state.resolve(request, at: Self.at("2026-12-12T00:00:00Z"))).hasPrefix("denied: payment overdue: invoice inv_1 payment failed"))
    }

    /// The figures of a check, whole or not, are Quota.decide's: usage after the check (its
    /// units counted when it consumes and is not denied), balance and overage never below 0.
    @Test func aChecksFiguresAreTheQuotasInWholeNumbersAndInDecimals() throws {
        let state = AccessState(snapshot: Self.snapshot(), maxPaymentOverdueDays: 7)
        let request = CheckRequest(subject: "acme_prod", feature: "api_requests")
        guard case .success(let base) = state.resolve(request, at: Self.at("2026-12-10T12:00:00Z")) else {
            Issue.record("not resolved")
            return
        }
        for (used, limit, units, soft) in [("999", "1000", "1", false), ("1000", "1000", "1", false), ("1000", "1000", "2", true),
                                           ("999.5", "1000", "1", false), ("999", "1000", "0.25", true), ("0", "0", "3", false),
                                           ("5", "10", "-2", false), ("9", "10", "5", true)] {
            var resolved = base
            resolved.entitlement = MeteredEntitlement(issueAfterReset: Decimal(string: limit)!, isSoftLimit: soft)
            for consume in [false, true] {
                var check = request
                check.units = Decimal(string: units)!
                check.consume = consume
                let answer = state.answer(resolved, request: check, used: Decimal(string: used)!)
                let decision = Quota.decide(entitlement: resolved.entitlement!, usedInPeriod: Decimal(string: used)!, requested: check.units)
                var after = Decimal(string: used)!
                if case .denied = decision {} else if consume { after += max(0, check.units) }
                let figures = "\(used) of \(limit), \(units), soft \(soft), consume \(consume)"
                #expect(answer.allowed == (decision != .denied(used: Decimal(string: used)!, limit: Decimal(string: limit)!)), "\(figures)")
                #expect(answer.facts.usage == after, "\(figures)")
                #expect(answer.facts.balance == max(0, Decimal(string: limit)! - after), "\(figures)")
                #expect(answer.facts.overage == max(0, after - Decimal(string: limit)!), "\(figures)")
            }
        }
        // 999 of 1000 and a consuming check of 1: allowed, usage 1000, balance 0, overage 0;
        // 1000 of 1000, hard: denied, usage stays 1000.
        var consuming = request
        consuming.consume = true
        let last = state.answer(base, request: consuming, used: 999)
        #expect(last.allowed && last.facts.usage == 1000 && last.facts.balance == 0 && last.facts.overage == 0)
    }
}
