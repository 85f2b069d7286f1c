import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

/// PostgreSQL's usage counters (`SharedUsageCounters`), which servers sharing the database
/// decide consuming checks by: made from the stored usage, moved by a conditional update, and
/// kept equal to the stored usage by every write.
@Suite struct UsageCounterTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let april = Period(start: t("2026-04-01T00:00:00Z"), end: t("2026-05-01T00:00:00Z"))

    func piece(_ subscription: String, _ meter: String, _ window: String, count: Int64, sum: String) -> SegmentPiece {
        SegmentPiece(subscriptionId: subscription, meterSlug: meter, windowStart: t(window), count: count, sum: sum,
                     min: "1", max: sum, latestTime: t(window) + 60, latestValue: "1")
    }

    /// The sample catalog; Acme on Starter (api_requests, COUNT) and Globex on Pro (tokens, SUM)
    /// from April 1.
    func store() throws -> (PostgresStore, requests: Meter, tokens: Meter) {
        let store = try PostgresStore(url: try PostgresServer.shared().makeDatabase())
        let catalog = try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
        try store.importCatalog(catalog, at: apr1)
        try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd), Customer(key: "globex", name: "Globex", currency: .usd)], at: apr1)
        _ = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_acme")
        _ = try store.createSubscription(customerKey: "globex", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_globex")
        let meters = try store.catalog().meters
        return (store, try #require(meters.first { $0.slug == "api_requests" }), try #require(meters.first { $0.slug == "tokens" }))
    }

    @Test func aCounterStartsFromTheStoredUsageAndStopsAtAHardLimit() throws {
        let (store, requests, _) = try store()
        let batch = try store.beginBatch(input: "events", at: apr1)
        try store.writeSegments([piece("sub_acme", "api_requests", "2026-04-05T00:00:00Z", count: 9_998, sum: "9998")], batch: batch, into: .segments)
        try store.transaction { () throws -> Void in
            // 9,998 stored: two more fit under 10,000, the third is refused.
            #expect(try store.take(1, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: 10_000) == .taken(before: 9_998))
            #expect(try store.take(1, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: 10_000) == .taken(before: 9_999))
            #expect(try store.take(1, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: 10_000) == .refused(used: 10_000))
            // A soft limit (none given) lets the usage past it.
            #expect(try store.take(5, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: nil) == .taken(before: 10_000))
            // The 7 units' events are written (the counter moves by them), then the 7 taken are given back.
            try store.writeSegments([piece("sub_acme", "api_requests", "2026-04-06T00:00:00Z", count: 7, sum: "7")], batch: batch, into: .log)
            #expect(try store.giveBack(7, meter: requests, subscriptionId: "sub_acme", period: april) == 10_005)
        }
        #expect(try store.quantity(meter: requests, subscriptionId: "sub_acme", period: april) == 10_005)
    }

    @Test func writesMoveOnlyTheCountersWhosePeriodsHoldThem() throws {
        let (store, requests, tokens) = try store()
        let may = Period(start: t("2026-05-01T00:00:00Z"), end: t("2026-06-01T00:00:00Z"))
        let batch = try store.beginBatch(input: "events", at: apr1)
        try store.writeSegments([piece("sub_globex", "tokens", "2026-04-05T00:00:00Z", count: 2, sum: "100.25")], batch: batch, into: .segments)
        try store.transaction { () throws -> Void in
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: april, hardLimit: nil) == .taken(before: d("100.25")))
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: may, hardLimit: nil) == .taken(before: 0))
            #expect(try store.take(0, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: nil) == .taken(before: 0))
        }
        // April's tokens move by the sum of two pieces (0.5 + 1.125), May's by its own, the
        // requests counter (another meter) by its one COUNT piece's events.
        try store.writeSegments([piece("sub_globex", "tokens", "2026-04-07T00:00:00Z", count: 1, sum: "0.5"),
                                 piece("sub_globex", "tokens", "2026-04-30T23:00:00Z", count: 3, sum: "1.125"),
                                 piece("sub_globex", "tokens", "2026-05-01T00:00:00Z", count: 1, sum: "4"),
                                 piece("sub_acme", "api_requests", "2026-04-09T00:00:00Z", count: 12, sum: "12")], batch: batch, into: .log)
        try store.transaction { () throws -> Void in
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: april, hardLimit: nil) == .taken(before: d("101.875")))
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: may, hardLimit: nil) == .taken(before: 4))
            #expect(try store.take(0, meter: requests, subscriptionId: "sub_acme", period: april, hardLimit: nil) == .taken(before: 12))
        }
        // Folding the log into the segments leaves every counter as it was: equal to the stored usage.
        try store.foldUsageLog()
        #expect(try store.quantity(meter: tokens, subscriptionId: "sub_globex", period: april) == d("101.875"))
        try store.transaction { () throws -> Void in
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: april, hardLimit: nil) == .taken(before: d("101.875")))
        }
    }

    @Test func countersOfEndedPeriodsAreForgottenAndMadeAgainIfAskedAbout() throws {
        let (store, _, tokens) = try store()
        let may = Period(start: t("2026-05-01T00:00:00Z"), end: t("2026-06-01T00:00:00Z"))
        let batch = try store.beginBatch(input: "events", at: apr1)
        try store.writeSegments([piece("sub_globex", "tokens", "2026-04-05T00:00:00Z", count: 2, sum: "100.25")], batch: batch, into: .segments)
        try store.transaction { () throws -> Void in
            _ = try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: april, hardLimit: nil)
            _ = try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: may, hardLimit: nil)
        }
        // April ended before May 2; May has not.
        #expect(try store.forgetCounters(endedBefore: t("2026-05-02T00:00:00Z")) == 1)
        #expect(try store.forgetCounters(endedBefore: t("2026-05-02T00:00:00Z")) == 0)
        // Usage written to April meanwhile moves no counter; asked again, April's is made from what is stored.
        try store.writeSegments([piece("sub_globex", "tokens", "2026-04-07T00:00:00Z", count: 1, sum: "0.5")], batch: batch, into: .log)
        try store.transaction { () throws -> Void in
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: april, hardLimit: nil) == .taken(before: d("100.75")))
            #expect(try store.take(0, meter: tokens, subscriptionId: "sub_globex", period: may, hardLimit: nil) == .taken(before: 0))
        }
    }

    @Test func manyPiecesGoByCopyWithTheirTextWhole() throws {
        let (store, _, tokens) = try store()
        let batch = try store.beginBatch(input: "events", at: apr1)
        // More pieces than one INSERT takes: written by COPY, whose text format escapes these.
        let groups = ["plain", "tab\there", "line\nbreak", "back\\slash", "carriage\rreturn", "naïve ✓", "\\N"]
        let pieces = (0..<700).map { index in
            SegmentPiece(subscriptionId: "sub_globex", meterSlug: "tokens", windowStart: apr1 + Int64(index) * 60, groupKey: groups[index % groups.count],
                         count: 1, sum: "\(index).25", min: "1", max: "2", latestTime: apr1 + Int64(index) * 60, latestValue: "1")
        }
        try store.writeSegments(pieces, batch: batch, into: .segments)
        // 0.25 x 700 + (0 + 1 + ... + 699) = 175 + 244,650
        #expect(try store.quantity(meter: tokens, subscriptionId: "sub_globex", period: april) == d("244825"))
        let stored = try store.session.query("SELECT group_key, count(*) FROM usage_segments GROUP BY group_key", [])
        #expect(Dictionary(uniqueKeysWithValues: stored.map { ($0.string(0) ?? "", $0.int(1) ?? 0) }) == Dictionary(uniqueKeysWithValues: groups.map { ($0, Int64(100)) }))
    }
}
