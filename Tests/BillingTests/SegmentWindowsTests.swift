import Foundation
import Testing
@testable import Billing

/// The usage segment window rule: a window runs from the latest boundary at or before an
/// event to the next one; in a phase with a quota, UTC midnight is a boundary too.
@Suite struct SegmentWindowsTests {
    @Test func aPhaseWithAQuotaCutsAtUTCMidnight() {
        // Starter (10,000 requests, hard) from Apr 1: an event on Apr 16 at 13:30 falls in that day.
        let starter = Subscription(id: "sub_1", customerKey: "acme", plan: Plans.starter(), anchor: t("2026-04-01T00:00:00Z"),
                                   start: t("2026-04-01T00:00:00Z"))
        #expect(SegmentWindows(subscription: starter, containing: t("2026-04-16T13:30:00Z")).span
            == Period(start: t("2026-04-16T00:00:00Z"), end: t("2026-04-17T00:00:00Z")))
    }

    @Test func aPhaseWithoutAQuotaKeepsTheBillingPeriodCutByTheSubscriptionsEnd() {
        // Pro (no quota), started Apr 10 with its anchor on the 1st and cancelled for Apr 20.
        let pro = Subscription(id: "sub_2", customerKey: "acme", plan: Plans.pro, anchor: t("2026-04-01T00:00:00Z"),
                               start: t("2026-04-10T00:00:00Z"), end: t("2026-04-20T00:00:00Z"))
        #expect(SegmentWindows(subscription: pro, containing: t("2026-04-16T13:30:00Z")).span
            == Period(start: t("2026-04-10T00:00:00Z"), end: t("2026-04-20T00:00:00Z")))
    }
}
