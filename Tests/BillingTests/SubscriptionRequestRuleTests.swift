import Foundation
import Testing
@testable import Billing

/// The rules every subscription request follows (`SubscriptionRules`), without a database:
/// one at a time, nothing in a billed period, the customer's currency, only what is in service
/// changes. Starter is an in-advance 29.00 plan, Pro 99.00 with usage (an upgrade).
@Suite struct SubscriptionRequestRuleTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let apr16 = t("2026-04-16T00:00:00Z")
    let may1 = t("2026-05-01T00:00:00Z")

    func starter(_ id: String = "sub_1", start: Instant? = nil, end: Instant? = nil) -> Subscription {
        Subscription(id: id, customerKey: "acme", plan: Plans.starter(), anchor: apr1, start: start ?? apr1, end: end)
    }

    func refusal(_ body: () throws -> Void) -> SubscriptionRefusal? {
        do { try body() } catch let refusal as SubscriptionRefusal { return refusal } catch { return nil }
        return nil
    }

    @Test func oneSubscriptionAtATimeUnlessTheOtherEndsFirstOrNeverBegan() {
        let other = starter()
        #expect(refusal { try SubscriptionRules.checkNew(customer: "acme", customerCurrency: .usd, plan: Plans.pro, from: apr16,
                                                         existing: [("sub_1", other)], billedThrough: nil) }
            == .anotherInService(customer: "acme", existing: "sub_1", plan: "starter"))
        // Ended by Apr 16, or cancelled before it began: free to subscribe.
        for ended in [starter(end: apr16), starter(start: may1, end: may1)] {
            #expect(refusal { try SubscriptionRules.checkNew(customer: "acme", customerCurrency: .usd, plan: Plans.pro, from: apr16,
                                                             existing: [("sub_1", ended)], billedThrough: nil) } == nil)
        }
    }

    @Test func nothingTakesEffectInABilledPeriod() {
        #expect(refusal { try SubscriptionRules.checkNew(customer: "acme", customerCurrency: nil, plan: Plans.pro, from: apr16,
                                                         existing: [], billedThrough: may1) }
            == .billedThrough(customer: "acme", billed: may1, what: "a new subscription", at: apr16))
        // Cancelling at once on Apr 16 when May 1 is billed: refused, with the words people read.
        let refused = refusal { _ = try SubscriptionRules.cancel(starter(), successorId: nil, timing: nil, now: apr16, billedThrough: may1) }
        #expect(refused?.description == "customer acme is billed through 2026-05-01T00:00:00Z: a cancellation must take effect after that, not at 2026-04-16T00:00:00Z")
        #expect(refused?.field == nil)
    }

    @Test func thePlanMustBeInTheCustomersCurrency() {
        let refused = refusal { try SubscriptionRules.checkNew(customer: "acme", customerCurrency: .eur, plan: Plans.pro, from: apr1,
                                                               existing: [], billedThrough: nil) }
        #expect(refused?.field == "plan")
        #expect(refused?.description.hasPrefix("plan pro v1 is priced in USD but customer acme is billed in EUR") == true)
    }

    @Test func aChangeIsImmediateForAnUpgradeAndRefusedOnTheSamePlanOrAfterTheEnd() throws {
        #expect(try SubscriptionRules.change(starter(), successorId: nil, to: Plans.pro, customerCurrency: .usd, timing: nil, now: apr16,
                                             billedThrough: apr1) == apr16)
        #expect(refusal { _ = try SubscriptionRules.change(starter(), successorId: nil, to: Plans.starter(), customerCurrency: .usd, timing: nil,
                                                           now: apr16, billedThrough: nil) }
            == .samePlan(subscription: "sub_1", plan: "starter", version: 1))
        // Ending Apr 16 (cancelled), a change at the next cycle (May 1) comes too late.
        #expect(refusal { _ = try SubscriptionRules.change(starter(end: apr16), successorId: nil, to: Plans.pro, customerCurrency: .usd,
                                                           timing: .nextBillingCycle, now: t("2026-04-10T00:00:00Z"), billedThrough: nil) }
            == .endsBeforeChange(subscription: "sub_1", end: apr16, change: may1))
    }

    @Test func aChangedSubscriptionIsReadOnly() {
        let readOnly = SubscriptionRefusal.readOnly(subscription: "sub_1", successor: "sub_2")
        #expect(refusal { _ = try SubscriptionRules.cancel(starter(), successorId: "sub_2", timing: nil, now: apr16, billedThrough: nil) } == readOnly)
        #expect(refusal { try SubscriptionRules.reactivate(starter(), successorId: "sub_2", now: apr16) } == readOnly)
        #expect(readOnly.field == nil)
    }

    @Test func cancellingAtTheCycleEndKeepsAccessAndCanBeUndone() throws {
        let end = try SubscriptionRules.cancel(starter(), successorId: nil, timing: .nextBillingCycle, now: apr16, billedThrough: apr1)
        #expect(end == may1)
        let cancelled = starter(end: end)
        #expect(refusal { try SubscriptionRules.reactivate(cancelled, successorId: nil, now: apr16) } == nil)
        // After the end it cannot be undone; one never cancelled has nothing to undo.
        #expect(refusal { try SubscriptionRules.reactivate(cancelled, successorId: nil, now: may1) } == .endedForGood(subscription: "sub_1", end: may1))
        #expect(refusal { try SubscriptionRules.reactivate(starter(), successorId: nil, now: apr16) } == .noPendingCancellation(subscription: "sub_1"))
        #expect(refusal { _ = try SubscriptionRules.cancel(cancelled, successorId: nil, timing: nil, now: may1, billedThrough: nil) }
            == .alreadyEnded(subscription: "sub_1", end: may1))
    }
}
