import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

/// The store's part of the usage page: usage per UTC day, and the key that signs usage links.
extension StoreTests {
    @Test(arguments: Backend.allCases) func dailyUsageIsTheMetersAggregationOverEachUTCDay(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        // Day windows as the ingest cuts them: Apr 1 (two batches), Apr 3, and May 1 (outside April).
        let pieces: [(String, [Decimal], [String])] = [
            ("2026-04-01T00:00:00Z", [d("1.5"), d("2")], ["m1", "m2"]),
            ("2026-04-01T00:00:00Z", [d("4")], ["m1"]),
            ("2026-04-03T00:00:00Z", [d("0.25")], ["m3"]),
            ("2026-05-01T00:00:00Z", [d("100")], ["m9"]),
        ]
        for (index, piece) in pieces.enumerated() {
            let batch = try store.beginBatch(input: "b\(index)", at: now)
            let values = piece.1
            try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "tokens", windowStart: t(piece.0), count: Int64(values.count),
                                                  sum: values.reduce(0, +), min: values.min()!, max: values.max()!,
                                                  latestTime: t(piece.0) + Int64(index), latestValue: values.last!, uniqueValues: piece.2)], batch: batch)
        }
        func meter(_ aggregation: Aggregation) -> Meter { Meter(slug: "tokens", name: "t", eventType: "e", aggregation: aggregation) }
        // April 1 to 3, 12:00 on the 3rd: three days, the last one partial.
        let span = Period(start: now, end: t("2026-04-03T12:00:00Z"))
        func daily(_ aggregation: Aggregation) throws -> [Decimal] { try store.daily(meter: meter(aggregation), subscriptionId: sub.id, period: span).map(\.value) }
        #expect(try store.daily(meter: meter(.sum), subscriptionId: sub.id, period: span).map(\.day) == [now, t("2026-04-02T00:00:00Z"), t("2026-04-03T00:00:00Z")])
        // Apr 1: 1.5 + 2 + 4 = 7.5 over 3 events; Apr 3: 0.25 over 1.
        #expect(try daily(.sum) == [d("7.5"), 0, d("0.25")])
        #expect(try daily(.count) == [3, 0, 1])
        #expect(try daily(.max) == [4, 0, d("0.25")])
        #expect(try daily(.min) == [d("1.5"), 0, d("0.25")])
        #expect(try daily(.latest) == [4, 0, d("0.25")])
        // 7.5 / 3 = 2.5
        #expect(try daily(.avg) == [d("2.5"), 0, d("0.25")])
        // m1 twice on Apr 1 counts once.
        #expect(try daily(.uniqueCount) == [2, 0, 1])
    }

    @Test(arguments: Backend.allCases) func theUsageLinkKeyIsMadeOnceAndSharedByEveryConnection(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let first = [UInt8](repeating: 7, count: 32)
        #expect(try store.usageLinkKey(orStore: first, at: now) == first)
        let other = try store.openConnection()
        #expect(try other.usageLinkKey(orStore: [UInt8](repeating: 9, count: 32), at: now) == first)
        // Only a 32-byte key is stored.
        #expect(throws: DatabaseError.self) {
            try store.connection.run("UPDATE usage_link_keys SET key = ?", [.blob([1, 2, 3])])
        }
    }
}
