import Foundation
import Testing
@testable import Billing

@Suite struct PeriodTests {
    @Test func monthEndAnchorClampsWithoutDriftThroughALeapYear() {
        // Anchor Jan 31 2028 (a leap year): each boundary is computed from the anchor, so the
        // day comes back to 31 after a short month instead of sticking at 29 or 30.
        let schedule = PeriodSchedule(anchor: t("2028-01-31T00:00:00Z"), cadence: ISODuration("P1M")!)
        let boundaries = (0...13).map { schedule.boundary($0).rfc3339 }
        #expect(boundaries == [
            "2028-01-31T00:00:00Z", "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z", "2028-04-30T00:00:00Z",
            "2028-05-31T00:00:00Z", "2028-06-30T00:00:00Z", "2028-07-31T00:00:00Z", "2028-08-31T00:00:00Z",
            "2028-09-30T00:00:00Z", "2028-10-31T00:00:00Z", "2028-11-30T00:00:00Z", "2028-12-31T00:00:00Z",
            "2029-01-31T00:00:00Z", "2029-02-28T00:00:00Z",
        ])
    }

    @Test func quartersAndYears() {
        let quarterly = PeriodSchedule(anchor: t("2026-11-30T12:00:00Z"), cadence: ISODuration("P3M")!)
        // Nov 30 + 3 months = Feb 28 (2027 is not a leap year), + 6 = May 30, + 9 = Aug 30.
        #expect((1...3).map { quarterly.boundary($0).rfc3339 } ==
                ["2027-02-28T12:00:00Z", "2027-05-30T12:00:00Z", "2027-08-30T12:00:00Z"])
        let yearly = PeriodSchedule(anchor: t("2028-02-29T00:00:00Z"), cadence: ISODuration("P1Y")!)
        #expect(yearly.boundary(1).rfc3339 == "2029-02-28T00:00:00Z")
        #expect(yearly.boundary(4).rfc3339 == "2032-02-29T00:00:00Z")
    }

    /// A re-imported plan written with P12M instead of P1Y is the same plan, not a change.
    @Test func durationsAreEqualWhenTheyStepTheSame() {
        #expect(ISODuration("P1Y") == ISODuration("P12M"))
        #expect(ISODuration("P2W") == ISODuration("P14D"))
        #expect(Set([ISODuration("P1Y")!, ISODuration("P12M")!]).count == 1)
        #expect(ISODuration("P1Y")?.text == "P1Y", "the text is kept for writing the catalog back")
        #expect(ISODuration("P1M") != ISODuration("P30D"))
        #expect(ISODuration("P1D") != ISODuration("PT24H"), "days and seconds stay apart")
    }

    @Test func daysAndWeeks() {
        let weekly = PeriodSchedule(anchor: t("2026-01-05T00:00:00Z"), cadence: ISODuration("P2W")!)
        #expect(weekly.boundary(1) == t("2026-01-19T00:00:00Z"))
        #expect(weekly.boundary(-1) == t("2025-12-22T00:00:00Z"))
        let daily = PeriodSchedule(anchor: t("2026-03-01T06:00:00Z"), cadence: ISODuration("P1D")!)
        #expect(daily.period(containing: t("2026-03-10T05:59:59Z")) ==
                Period(start: t("2026-03-09T06:00:00Z"), end: t("2026-03-10T06:00:00Z")))
    }

    @Test func periodContainingAnInstantIsHalfOpen() {
        let schedule = PeriodSchedule(anchor: t("2026-01-31T00:00:00Z"), cadence: ISODuration("P1M")!)
        // The boundary itself starts the next period.
        #expect(schedule.period(containing: t("2026-02-28T00:00:00Z")) ==
                Period(start: t("2026-02-28T00:00:00Z"), end: t("2026-03-31T00:00:00Z")))
        #expect(schedule.period(containing: t("2026-02-27T23:59:59Z")) ==
                Period(start: t("2026-01-31T00:00:00Z"), end: t("2026-02-28T00:00:00Z")))
        // Before the anchor the schedule steps backwards.
        #expect(schedule.period(containing: t("2026-01-15T00:00:00Z")) ==
                Period(start: t("2025-12-31T00:00:00Z"), end: t("2026-01-31T00:00:00Z")))
        #expect(schedule.isBoundary(t("2026-04-30T00:00:00Z")))
        #expect(!schedule.isBoundary(t("2026-04-29T00:00:00Z")))
    }

    @Test func periodsInASpanAreCutAtItsEnds() {
        let schedule = PeriodSchedule(anchor: t("2026-01-01T00:00:00Z"), cadence: ISODuration("P1M")!)
        let parts = schedule.periods(in: Period(start: t("2026-01-15T00:00:00Z"), end: t("2026-03-10T00:00:00Z")))
        #expect(parts == [
            Period(start: t("2026-01-15T00:00:00Z"), end: t("2026-02-01T00:00:00Z")),
            Period(start: t("2026-02-01T00:00:00Z"), end: t("2026-03-01T00:00:00Z")),
            Period(start: t("2026-03-01T00:00:00Z"), end: t("2026-03-10T00:00:00Z")),
        ])
    }

    @Test func isoDurations() {
        #expect(ISODuration("P1M")?.months == 1)
        #expect(ISODuration("P1Y")?.months == 12)
        #expect(ISODuration("P2W")?.days == 14)
        #expect(ISODuration("PT1H")?.seconds == 3600)
        #expect(ISODuration("P1DT12H")?.seconds == 43_200)
        for bad in ["", "P", "1M", "PT", "P1.5M", "P1H", "PT1D", "P-1M", "P1M2"] {
            #expect(ISODuration(bad) == nil, "\(bad)")
        }
    }

    @Test func rfc3339() {
        #expect(t("2026-03-01T12:30:00+02:00") == t("2026-03-01T10:30:00Z"))
        #expect(t("2026-03-01T10:30:00.999Z") == t("2026-03-01T10:30:00Z"))
        #expect(t("1970-01-01T00:00:00Z").seconds == 0)
        #expect(t("2028-02-29T00:00:00Z").rfc3339 == "2028-02-29T00:00:00Z")
        for bad in ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00",
                    "2026-01-01T00:00:00+0200", "yesterday"] {
            #expect(Instant(rfc3339: bad) == nil, "\(bad)")
        }
    }
}
