import Billing
import Foundation
import Testing
@testable import Metering

struct AggregatorTests {
    func meter(_ aggregation: Aggregation) -> Meter {
        Meter(slug: "m", name: "M", eventType: "t", aggregation: aggregation,
              valueProperty: aggregation == .count ? nil : "$.v")
    }

    func events(_ values: [String], times: [String]? = nil, meter: Meter) -> [UsageEvent] {
        let p = try! EventParser(meters: [meter])
        return values.enumerated().compactMap { index, value in
            let time = times?[index] ?? "2026-01-01T10:\(10 + index):00Z"
            return accepted(p.parse(line(id: "e\(index)", type: "t", time: time, data: #"{"v":\#(value)}"#)))
        }
    }

    func quantity(_ aggregation: Aggregation, _ values: [String], times: [String]? = nil) -> Decimal? {
        let m = meter(aggregation)
        var aggregator = UsageAggregator(meters: try! MeterSet(meters: [m]))
        for event in events(values, times: times, meter: m) { aggregator.add(event) }
        #expect(aggregator.segments.count == 1)
        return aggregator.quantity(UsageSegmentKey(subject: "cust-1", meterSlug: "m",
                                                   windowStart: Instant(year: 2026, month: 1, day: 1, hour: 10)))
    }

    @Test func eachAggregationGivesItsExactQuantity() {
        #expect(quantity(.count, ["1", "2", "3"]) == 3)
        // 1 + 2.5 + 0.25 = 3.75
        #expect(quantity(.sum, ["1", "2.5", "0.25"]) == decimal("3.75"))
        #expect(quantity(.sum, ["9223372036854775807", "1"]) == decimal("9223372036854775808"))
        #expect(quantity(.max, ["1", "7.5", "3"]) == decimal("7.5"))
        #expect(quantity(.min, ["4", "-2", "3"]) == -2)
        // (1 + 1 + 2) / 3 = 1.3333... rounded half away from zero to 6 places
        #expect(quantity(.avg, ["1", "1", "2"]) == decimal("1.333333"))
        // (2 + 3) / 3 = 1.6666... -> 1.666667
        #expect(quantity(.avg, ["2", "3", "0"]) == decimal("1.666667"))
        #expect(quantity(.latest, ["5", "9", "4"]) == 4)
        #expect(quantity(.latest, ["5", "9", "4"], times: ["2026-01-01T10:30:00Z", "2026-01-01T10:50:00Z", "2026-01-01T10:40:00Z"]) == 9)
        // Same second: the larger value wins whatever the order.
        #expect(quantity(.latest, ["3", "8", "5"], times: Array(repeating: "2026-01-01T10:30:00Z", count: 3)) == 8)
        // Numbers count by their canonical text: 12.50 and 12.5 are one value, "12.5" too.
        #expect(quantity(.uniqueCount, [#""a""#, #""b""#, #""a""#, "12.50", "12.5", #""12.5""#, "7"]) == 4)
    }

    @Test func quantitiesMatchBillingAggregator() {
        let cases: [(Aggregation, [String])] = [(.sum, ["1", "2.5"]), (.avg, ["1", "1", "2"]), (.max, ["3", "9"]),
                                                (.min, ["3", "9"]), (.latest, ["3", "9", "1"]), (.count, ["1", "1"])]
        for (aggregation, values) in cases {
            let expected = Aggregator.aggregate(aggregation, values: values.map(decimal), uniqueValues: [])
            #expect(quantity(aggregation, values) == expected, "\(aggregation)")
        }
    }

    @Test func mergingPartialsEqualsAggregatingAll() {
        let meters = try! MeterSet(meters: [tokens, inputTokens, requests, models])
        let p = EventParser(meters: meters)
        var all: [UsageEvent] = []
        for i in 0..<200 {
            let time = "2026-01-01T\(10 + i % 3):0\(i % 10):00Z"
            let text = i % 2 == 0
                ? line(id: "e\(i)", subject: "c\(i % 4)", time: time,
                       data: #"{"tokens":\#(i % 7).\#(i % 5),"model":"m\#(i % 3)","usage":{"input_tokens":\#(i % 11)}}"#)
                : line(id: "e\(i)", type: "api.request", subject: "c\(i % 4)", time: time, data: #"{"model":"m\#(i % 5)"}"#)
            if let event = accepted(p.parse(text)) { all.append(event) }
        }
        var whole = UsageAggregator(meters: meters)
        for event in all { whole.add(event) }
        var left = UsageAggregator(meters: meters), right = UsageAggregator(meters: meters)
        for (index, event) in all.enumerated() {
            if index % 3 == 0 { left.add(event) } else { right.add(event) }
        }
        var merged = right
        merged.merge(left)
        #expect(merged.segments == whole.segments)
        #expect(merged.sortedSegments().map(\.key) == whole.segments.keys.sorted())
        // Group-by values are part of the key.
        #expect(Set(whole.segments.keys.filter { $0.meterSlug == "llm_tokens" }.compactMap { $0.groupValues.first ?? nil })
                == ["m0", "m1", "m2"])
    }

    @Test func mergingDisjointSubjectsWithLateEvents() {
        let meters = try! MeterSet(meters: [tokens, requests])
        let p = EventParser(meters: meters)
        var all: [UsageEvent] = []
        // Hours out of order on purpose: late events walk back along a series' segments.
        let hours = [5, 3, 7, 3, 1, 9, 5, 2, 8, 0, 7, 4]
        for (i, hour) in (hours + hours.reversed()).enumerated() {
            let time = "2026-01-02T0\(hour % 10):1\(i % 10):00Z"
            let text = i % 3 == 0
                ? line(id: "r\(i)", type: "api.request", subject: "c\(i % 5)", time: time, data: "{}")
                : line(id: "t\(i)", subject: "c\(i % 5)", time: time, data: #"{"tokens":\#(i),"model":"m\#(i % 2)"}"#)
            if let event = accepted(p.parse(text)) { all.append(event) }
        }
        var whole = UsageAggregator(meters: meters)
        for event in all { whole.add(event) }
        var left = UsageAggregator(meters: meters), right = UsageAggregator(meters: meters)
        for event in all {
            if event.subject < "c2" { left.add(event) } else { right.add(event) }
        }
        left.merge(right)
        #expect(left.segments == whole.segments)
        // After the merge, further late and new events land in the right segments.
        let extra = [line(id: "x1", type: "api.request", subject: "c4", time: "2026-01-02T03:59:00Z", data: "{}"),
                     line(id: "x2", type: "api.request", subject: "c4", time: "2026-01-02T23:00:00Z", data: "{}")]
        for text in extra {
            let event = accepted(p.parse(text))!
            left.add(event)
            whole.add(event)
        }
        #expect(left.segments == whole.segments)
    }

    @Test func hourlyWindowFloorsToTheHour() {
        #expect(UsageWindows.hourly("s", Instant(rfc3339: "2026-01-01T10:59:59Z")!) == Instant(rfc3339: "2026-01-01T10:00:00Z")!)
        #expect(UsageWindows.hourly("s", Instant(seconds: -1)) == Instant(seconds: -3600))
    }

    @Test func callerSuppliedWindow() {
        let daily: UsageWindow = { _, time in Instant(seconds: time.seconds / 86_400 * 86_400) }
        var aggregator = UsageAggregator(meters: try! MeterSet(meters: [requests]), window: daily)
        let p = EventParser(meters: aggregator.meters)
        for (i, time) in ["2026-01-01T01:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T00:00:00Z"].enumerated() {
            aggregator.add(accepted(p.parse(line(id: "\(i)", type: "api.request", time: time, data: "{}")))!)
        }
        #expect(aggregator.sortedSegments().map { $0.aggregate.count } == [2, 1])
    }
}

struct DedupeTests {
    @Test func identityHashIsStable() {
        // FNV-1a 64 over "gateway-1", 0xFF, "evt-1" (checked with an independent implementation).
        #expect(EventIdentity(source: "gateway-1", id: "evt-1").hash == 0xdac0_8924_fb96_5cbb)
        #expect(EventIdentity(source: "ab", id: "c").hash != EventIdentity(source: "a", id: "bc").hash)
        #expect(EventIdentity(source: "gateway-1", id: "evt-1").storageKey == Int64(bitPattern: 0xdac0_8924_fb96_5cbb))
    }

    @Test func scannerAndFallbackHashAlike() throws {
        let plain = try #require(accepted(parser().parse(line(id: "x1"))))
        let escaped = try #require(accepted(parser().parse(line(id: #"\u0078\u0031"#))))
        #expect(plain.identity == escaped.identity)
        #expect(plain.identity.hash == escaped.identity.hash)
    }

    @Test func identityEqualityIsByteExact() {
        // "é" precomposed and decomposed are canonically equal Strings but different ids.
        #expect(EventIdentity(source: "s", id: "\u{E9}") != EventIdentity(source: "s", id: "e\u{301}"))
    }

    @Test func tableConfirmsFullKeys() {
        var table = DedupeTable(minimumCapacity: 4)
        let keys = (0..<1000).map { "k\($0)" }
        for (i, key) in keys.enumerated() {
            #expect(table.insertIfAbsent(hash: 7, payload: i) { keys[$0] == key } == nil)  // every hash collides
        }
        #expect(table.insertIfAbsent(hash: 7, payload: 5000) { keys[$0] == "k500" } == 500)
        #expect(table.payload(hash: 7) { keys[$0] == "k999" } == 999)
        #expect(table.payload(hash: 8) { _ in true } == nil)
        #expect(table.count == 1000)
    }
}

struct GeneratorTests {
    @Test func sameSeedSameBytes() {
        let options = EventGenerator.Options(events: 5_000, subjects: 50, days: 2, duplicatesPerMillion: 50_000, seed: 7)
        let a = EventGenerator(options).bytes(), b = EventGenerator(options).bytes()
        #expect(a == b)
        var other = options
        other.seed = 8
        #expect(EventGenerator(other).bytes() != a)
    }

    @Test func linesParseAndDuplicateFractionAppears() throws {
        let options = EventGenerator.Options(events: 20_000, subjects: 100, days: 3, duplicatesPerMillion: 50_000, seed: 1)
        let bytes = EventGenerator(options).bytes()
        let result = bytes.withUnsafeBytes {
            MeteringBenchmark.parseAndAggregate(bytes: $0, parser: try! EventParser(meters: EventGenerator.meters), threads: 2)
        }
        let single = bytes.withUnsafeBytes {
            MeteringBenchmark.parseAndAggregate(bytes: $0, parser: try! EventParser(meters: EventGenerator.meters), threads: 1)
        }
        #expect(result.events == 20_000)
        #expect(result.rejected == 0)
        // 5% of 20,000 = 1,000 expected duplicates; a binomial spread of about 31.
        #expect((850...1150).contains(result.duplicates))
        #expect(result.accepted + result.duplicates == 20_000)
        #expect(result.aggregator.segments == single.aggregator.segments)
        #expect(result.duplicates == single.duplicates)
        // An escaped copy of an id is the same event, whichever thread reads it.
        var tricky = Array(line(id: "x1", subject: "a").utf8) + [0x0A]
        tricky += Array(line(id: #"\u0078\u0031"#, subject: "b").utf8) + [0x0A]
        tricky += Array(line(id: #"\u0078\u0031"#, subject: "zz").utf8) + [0x0A]
        let trickyResult = tricky.withUnsafeBytes {
            MeteringBenchmark.parseAndAggregate(bytes: $0, parser: parser(), threads: 2)
        }
        #expect(trickyResult.accepted == 1)
        #expect(trickyResult.duplicates == 2)
        // The file's lines are exact copies where duplicated.
        let lines = bytes.split(separator: 0x0A)
        #expect(lines.count - Set(lines.map { Array($0) }).count == result.duplicates)
    }
}
