import Billing
import Foundation
import Testing
@testable import Metering
import Showcase

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

    func aggregate(_ aggregation: Aggregation, _ values: [String], times: [String]? = nil) -> UsageAggregate {
        let m = meter(aggregation)
        let p = try! EventParser(meters: [m])
        var aggregate = UsageAggregate()
        for event in events(values, times: times, meter: m) { aggregate.add(p.reading(of: event, meter: 0), at: event.time) }
        return aggregate
    }

    func quantity(_ aggregation: Aggregation, _ values: [String], times: [String]? = nil) -> Decimal? {
        aggregate(aggregation, values, times: times).quantity(aggregation)
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
        // Split any way, two partial aggregates merge into the aggregate of all the events.
        let values = (0..<60).map { "\($0 % 7).\($0 % 5)" }
        let times = (0..<60).map { "2026-01-01T10:\(10 + $0 % 40):00Z" }
        for aggregation in [Aggregation.sum, .max, .min, .avg, .latest, .count, .uniqueCount] {
            let m = meter(aggregation)
            let p = try! EventParser(meters: [m])
            let all = events(values, times: times, meter: m)
            var whole = UsageAggregate(), left = UsageAggregate(), right = UsageAggregate()
            for (index, event) in all.enumerated() {
                whole.add(p.reading(of: event, meter: 0), at: event.time)
                if index % 3 == 0 { left.add(p.reading(of: event, meter: 0), at: event.time) }
                else { right.add(p.reading(of: event, meter: 0), at: event.time) }
            }
            right.merge(left)
            #expect(right == whole, "\(aggregation)")
        }
    }
}

struct DedupeTests {
    @Test func identityHashIsStable() {
        // FNV-1a 64 over "gateway-1", 0xFF, "evt-1" (checked with an independent implementation).
        #expect(EventIdentity(source: "gateway-1", id: "evt-1").hash == 0xdac0_8924_fb96_5cbb)
        #expect(EventIdentity(source: "ab", id: "c").hash != EventIdentity(source: "a", id: "bc").hash)
        #expect(EventIdentity(source: "gateway-1", id: "evt-1").storageKey == Int64(bitPattern: 0xdac0_8924_fb96_5cbb))
        // The second half: FNV-1a from 0x84222325cbf29ce4 over "evt-1", 0xFE, "gateway-1".
        #expect(EventIdentity(source: "gateway-1", id: "evt-1").hash2 == 0x539e_d285_1103_2a91)
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
        let parser = try EventParser(meters: EventGenerator.meters)
        let lines = bytes.split(separator: 0x0A)
        #expect(lines.count == 20_000)
        var identities = Set<EventIdentity>()
        for line in lines {
            guard case .accepted(let event) = parser.parse(Array(line)) else {
                Issue.record("rejected: \(String(decoding: line, as: UTF8.self))")
                continue
            }
            identities.insert(event.identity)
        }
        let duplicates = lines.count - identities.count
        // 5% of 20,000 = 1,000 expected duplicates; a binomial spread of about 31.
        #expect((850...1150).contains(duplicates))
        // The file's lines are exact copies where duplicated.
        #expect(lines.count - Set(lines.map { Array($0) }).count == duplicates)
    }
}
