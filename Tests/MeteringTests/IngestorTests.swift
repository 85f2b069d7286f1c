import Foundation
import Testing
@testable import Billing
@testable import Metering
@testable import Store

/// Ingest into a real store: attribution, windows cut at plan changes, quarantine reasons.
@Suite struct IngestorTests {
    let apr1 = Instant(rfc3339: "2026-04-01T00:00:00Z")!

    func store() throws -> (SQLiteStore, Subscription) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-ingest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
        let catalog = try CatalogReader.read(Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/catalogs/sample.json")))
        _ = try store.importCatalog(catalog, at: apr1)
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd)], at: apr1)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        return (store, sub)
    }

    func line(_ id: String, _ time: String, type: String = "api.request", subject: String = "acme", data: String = "{}") -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"gw","type":"\#(type)","subject":"\#(subject)","time":"\#(time)","data":\#(data)}"#
    }

    @Test func partsCommittedTogetherAreEachAccountedForWithTheirOwnLineNumbers() throws {
        let (store, starter) = try store()
        let ingestor = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-17T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
        ingestor.segmentTable = .log
        func part(_ lines: [String]) -> [UInt8] { Array((lines.joined(separator: "\n") + "\n").utf8) }
        // Part 0: two events and a line that is not JSON (its line 2). Part 1: a repeat of part 0's
        // first event, a new one, and an unknown subject (its line 3). Part 2: the new one again.
        let summaries = try ingestor.ingest(parts: [
            part([line("a", "2026-04-10T10:00:00Z"), "not json", line("b", "2026-04-10T10:00:01Z")]),
            part([line("a", "2026-04-10T10:00:00Z"), line("c", "2026-04-10T10:00:02Z"), line("d", "2026-04-10T10:00:03Z", subject: "nobody")]),
            part([line("c", "2026-04-10T10:00:02Z")]),
        ], input: "http")
        #expect(summaries.map { [$0.accepted, $0.duplicates, $0.rejected] } == [[2, 0, 1], [1, 1, 1], [0, 1, 0]])
        #expect(summaries[0].rejections.map(\.line) == [2])
        #expect(summaries[1].rejections.map(\.line) == [3])
        #expect(summaries[1].rejections.first?.reason.hasPrefix("unknown subject") == true)
        // The three accepted events are in the log, not yet in the segments.
        let meter = Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count)
        let april = Period(start: apr1, end: Instant(rfc3339: "2026-05-01T00:00:00Z")!)
        #expect(try store.quantity(meter: meter, subscriptionId: starter.id, period: april) == 3)
        #expect(try store.database.first("SELECT count(*) FROM usage_segments")?.int(0) == 0)
        #expect(try store.database.first("SELECT count(*) FROM quarantined_events")?.int(0) == 2)
    }

    @Test func aPlanChangeSplitsUsageExactlyAtTheChangeInstant() throws {
        let (store, starter) = try store()
        let pro = try store.changeSubscription(id: starter.id, planKey: "pro", version: nil, timing: .immediate,
                                               now: Instant(rfc3339: "2026-04-16T12:30:00Z")!)
        let text = [line("1", "2026-04-16T12:29:59Z"), line("2", "2026-04-16T12:30:00Z"), line("3", "2026-04-16T12:30:01Z")]
            .joined(separator: "\n")
        let summary = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-17T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data(text.utf8), input: "test")
        #expect(summary.accepted == 3)
        let meter = Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count)
        let april = Period(start: apr1, end: Instant(rfc3339: "2026-05-01T00:00:00Z")!)
        // One second before the change is Starter's; the change instant itself is Pro's.
        #expect(try store.quantity(meter: meter, subscriptionId: starter.id, period: april) == 1)
        #expect(try store.quantity(meter: meter, subscriptionId: pro.id, period: april) == 2)
        // Pro's segment window starts at the change instant, not at a round hour.
        let windows = try store.database.query("SELECT window_start FROM usage_segments WHERE subscription_id = ?", [.text(pro.id)])
        #expect(windows.compactMap { $0.int(0) } == [Instant(rfc3339: "2026-04-16T12:30:00Z")!.seconds])
    }

    @Test func segmentWindowsAreCutAtUTCMidnight() throws {
        let (store, starter) = try store()
        let text = [line("1", "2026-04-02T23:59:59Z"), line("2", "2026-04-03T00:00:00Z"), line("3", "2026-04-03T18:00:00Z")]
            .joined(separator: "\n")
        let summary = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-04T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data(text.utf8), input: "test")
        #expect(summary.accepted == 3)
        let windows = try store.database.query("SELECT window_start, count FROM usage_segments WHERE subscription_id = ? ORDER BY window_start",
                                               [.text(starter.id)])
        #expect(windows.map { [$0.int(0), $0.int(1)] } == [[Instant(rfc3339: "2026-04-02T00:00:00Z")!.seconds, 1],
                                                          [Instant(rfc3339: "2026-04-03T00:00:00Z")!.seconds, 2]])
    }

    @Test func everyLineIsAcceptedDuplicateOrRejectedWithItsReason() throws {
        let (store, _) = try store()
        let now = Instant(rfc3339: "2026-04-20T00:00:00Z")!
        let lines = [
            line("ok", "2026-04-10T00:00:00Z"),
            line("ok", "2026-04-10T00:00:00Z"),
            line("future", "2026-04-20T00:05:01Z"),
            line("before", "2026-03-31T23:59:59Z"),
            line("old", "2025-12-01T00:00:00Z"),
            line("tokens", "2026-04-10T00:00:00Z", type: "llm.completion", data: #"{"tokens":"many","model":"m"}"#),
            "",
            line("nosubject", "2026-04-10T00:00:00Z").replacingOccurrences(of: #""subject":"acme","#, with: ""),
        ]
        let summary = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data(lines.joined(separator: "\n").utf8), input: "test")
        #expect(summary.accepted == 1)
        #expect(summary.duplicates == 1)
        #expect(summary.rejected == 5)
        #expect(summary.rejections.map(\.line) == [3, 4, 5, 6, 8])
        #expect(summary.rejections[0].reason == "time 2026-04-20T00:05:01Z is more than 5 minutes in the future")
        #expect(summary.rejections[1].reason == "time 2026-03-31T23:59:59Z is outside every subscription of customer acme")
        #expect(summary.rejections[2].reason == "time 2025-12-01T00:00:00Z is older than dedupeRetention P90D: too old to de-duplicate")
        #expect(summary.rejections[3].reason == "meter tokens: value at $.tokens is not a number")
        #expect(summary.rejections[4].reason == "required field subject is missing, empty or not a string")
        // Quarantined with line and reason, never lost.
        #expect(try store.quarantinedEvents().map(\.line).sorted() == [3, 4, 5, 6, 8])
    }

    @Test func aRepeatIsRecognisedWithinADayEitherSideAcrossRuns() throws {
        let (store, _) = try store()
        let now = Instant(rfc3339: "2026-04-20T00:00:00Z")!
        let first = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data([line("a", "2026-04-10T23:59:59Z"), line("b", "2026-04-10T12:00:00Z")].joined(separator: "\n").utf8), input: "one")
        #expect(first.accepted == 2)
        // A later run: "a" re-sent with a time on the next UTC day, and "b" re-sent at its own
        // time, are repeats; "a" and "b" again two days later are new events.
        let second = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data([line("a", "2026-04-11T00:00:01Z"), line("b", "2026-04-10T12:00:00Z"),
                          line("a", "2026-04-12T23:59:59Z"), line("b", "2026-04-13T00:00:00Z")].joined(separator: "\n").utf8), input: "two")
        #expect(second.accepted == 2)
        #expect(second.duplicates == 2)
        // The first copy of an event in one input wins, whichever lane checks it.
        let ids = (0..<64).map { "x\($0)" }
        let third = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!)
            .ingest(Data((ids + ids).map { line($0, "2026-04-15T00:00:00Z") }.joined(separator: "\n").utf8), input: "three")
        #expect(third.accepted == 64)
        #expect(third.duplicates == 64)
        #expect(try store.database.first("SELECT sum(count) FROM usage_segments")?.int(0) == 68)
    }

    @Test func transactionsCommitOnTheirOwnAndDuplicatesSpanThem() throws {
        let (store, _) = try store()
        let ingestor = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-20T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
        ingestor.chunkLines = 2
        ingestor.commitLines = 4
        let lines = (0..<5).map { line("e\($0 % 3)", "2026-04-10T00:00:0\($0)Z") }
        let summary = try ingestor.ingest(Data(lines.joined(separator: "\n").utf8), input: "test")
        // e0 e1 | e2 e0 || e1: three new, two repeats of earlier chunks; two transactions.
        #expect(summary.accepted == 3)
        #expect(summary.duplicates == 2)
        #expect(try store.database.query("SELECT input, accepted, duplicates FROM ingest_batches ORDER BY id").map {
            "\($0.string(0) ?? "") \($0.int(1) ?? -1) \($0.int(2) ?? -1)"
        } == ["test lines 1-4 3 1", "test lines 5-5 0 1"])
    }

    @Test func keysAnotherWriterCommitsBetweenTransactionsAreRepeats() throws {
        let (store, _) = try store()
        let now = Instant(rfc3339: "2026-04-20T00:00:00Z")!
        let first = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!)
        // The long-running ingest has the day of Apr 10 loaded after its first transaction.
        #expect(try first.ingest(Data(line("1", "2026-04-10T00:00:00Z").utf8), input: "first").accepted == 1)
        // Another process (its own connection) stores events 2 and 3 of that day.
        let other = try SQLiteStore(path: store.database.path)
        let text = [line("2", "2026-04-10T00:00:01Z"), line("3", "2026-04-10T00:00:02Z")].joined(separator: "\n")
        #expect(try Ingestor(store: other, now: now, dedupeRetention: ISODuration("P90D")!).ingest(Data(text.utf8), input: "other").accepted == 2)
        // The first ingest's next transaction reads those keys in: 2 and 3 are repeats, 4 is new.
        let again = [line("2", "2026-04-10T00:00:01Z"), line("3", "2026-04-10T00:00:02Z"), line("4", "2026-04-10T00:00:03Z")]
        let summary = try first.ingest(Data(again.joined(separator: "\n").utf8), input: "first again")
        #expect(summary.accepted == 1)
        #expect(summary.duplicates == 2)
    }

    @Test func aChangeCommittedBetweenTransactionsAttributesTheNextOnes() throws {
        let (store, starter) = try store()
        let ingestor = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-20T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
        #expect(try ingestor.ingest(Data(line("1", "2026-04-05T00:00:00Z").utf8), input: "before").accepted == 1)
        // Another connection upgrades Acme on Apr 10; the ingestor still holds the old subscriptions.
        let other = try SQLiteStore(path: store.database.path)
        let pro = try other.changeSubscription(id: starter.id, planKey: "pro", version: nil, timing: .immediate,
                                               now: Instant(rfc3339: "2026-04-10T00:00:00Z")!)
        #expect(try ingestor.ingest(Data(line("2", "2026-04-12T00:00:00Z").utf8), input: "after").accepted == 1)
        let meter = Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count)
        let april = Period(start: apr1, end: Instant(rfc3339: "2026-05-01T00:00:00Z")!)
        #expect(try store.quantity(meter: meter, subscriptionId: starter.id, period: april) == 1)
        #expect(try store.quantity(meter: meter, subscriptionId: pro.id, period: april) == 1)
    }

    @Test func slowInputIsCommittedAsItArrivesNotHeldUnderTheWriteLock() throws {
        let (store, _) = try store()
        let ingestor = try Ingestor(store: store, now: Instant(rfc3339: "2026-04-20T00:00:00Z")!, dedupeRetention: ISODuration("P90D")!)
        ingestor.inputWaitMillis = 20
        // A chunk is one line: the reader hands each on as soon as it is read whole.
        ingestor.readBlock = line("0", "2026-04-10T00:00:00Z").utf8.count + 1
        // A pipe whose writer sends a line, then waits longer than the ingest waits for input.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let fds = ends
        let writer = Thread {
            for (index, time) in ["2026-04-10T00:00:00Z", "2026-04-11T00:00:00Z"].enumerated() {
                let text = self.line("\(index)", time) + "\n"
                _ = text.withCString { write(fds[1], $0, strlen($0)) }
                Thread.sleep(forTimeInterval: 0.3)
            }
            close(fds[1])
        }
        writer.start()
        let summary = try ingestor.ingest(descriptor: fds[0], input: "pipe")
        close(fds[0])
        #expect(summary.accepted == 2)
        // One transaction (batch) per line that came alone.
        #expect(try store.database.first("SELECT count(*) FROM ingest_batches")?.int(0) == 2)
    }

}

@Suite struct LineChunkReaderTests {
    /// Reads `text` through a file with a tiny block, so lines straddle reads.
    func chunks(_ text: String, block: Int, maxLines: Int) throws -> [[String]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lines-\(UUID().uuidString)").path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        var reader = LineChunkReader(descriptor: descriptor, block: block)
        var result: [[String]] = []
        while let chunk = try reader.next(maxLines: maxLines) {
            result.append((0..<chunk.lineCount).map { chunk.text(line: $0) })
        }
        return result
    }

    @Test func linesSplitAcrossReadsComeOutWhole() throws {
        let lines = (1...10).map { "line number \($0)" }
        // A chunk holds the whole lines of one buffer, at most `maxLines`; a line longer than
        // the buffer (every line, with a block of 1, 3 or 7 bytes) gets a larger buffer.
        for block in [1, 3, 7, 64, 4096] {
            let chunks = try chunks(lines.joined(separator: "\n") + "\n", block: block, maxLines: 4)
            #expect(Array(chunks.joined()) == lines, "block \(block)")
            #expect(chunks.allSatisfy { !$0.isEmpty && $0.count <= 4 }, "block \(block)")
        }
        #expect(try chunks(lines.joined(separator: "\n") + "\n", block: 4096, maxLines: 4) ==
                [Array(lines[0..<4]), Array(lines[4..<8]), Array(lines[8..<10])])
        // 64 bytes hold four 14-byte lines (with their newlines), not five.
        #expect(try chunks(lines.joined(separator: "\n") + "\n", block: 64, maxLines: 10).first?.count == 4)
    }

    @Test func aLastLineWithoutNewlineAndEmptyLinesCount() throws {
        // Empty lines keep their numbers so a rejection names the right line.
        #expect(Array(try chunks("a\n\nb\nc", block: 2, maxLines: 10).joined()) == ["a", "", "b", "c"])
        #expect(try chunks("a\n\nb\nc", block: 64, maxLines: 10) == [["a", "", "b", "c"]])
        #expect(try chunks("", block: 2, maxLines: 10).isEmpty)
    }

    @Test func keysInMemoryKeepTheirDaysThroughGrowthAndCopies() {
        var seen = SeenEvents(capacity: 4)
        let keys = (1...1000 as ClosedRange<UInt64>).map { ($0 &* 0x9E37_79B9_7F4A_7C15, $0) }
        var added = 0
        for (hash, hash2) in keys where seen.insertUnlessRepeat(hash, hash2, day: 10) { added += 1 }
        #expect(added == keys.count)
        var copy = seen
        let first = copy.insertUnlessRepeat(7, 7, day: 10)
        let nextDay = copy.insertUnlessRepeat(7, 7, day: 11)
        // Two days apart: a new event.
        let twoDaysLater = copy.insertUnlessRepeat(7, 7, day: 12)
        #expect(first && !nextDay && twoDaysLater)
        // The copy's keys are its own.
        let inOriginal = seen.insertUnlessRepeat(7, 7, day: 10)
        #expect(inOriginal)
        seen.reserve(100_000)
        var repeats = 0
        for (hash, hash2) in keys where !seen.insertUnlessRepeat(hash, hash2, day: 9) { repeats += 1 }
        #expect(repeats == keys.count)
        #expect(seen.count == 1001 && copy.count == 1002)
    }

    @Test func aSubjectFindsItsCustomerByItsBytesOrAsAStringEqualToAKey() {
        // U+212A KELVIN SIGN is canonically "K": as Strings, "\u{212A}elvin" == "Kelvin".
        let table = SubjectTable(["acme": 0, "\u{212A}elvin": 1])
        func slot(_ subject: String) -> Int? { Array(subject.utf8).withUnsafeBytes { table.slot(of: $0) } }
        #expect(slot("acme") == 0)
        #expect(slot("\u{212A}elvin") == 1)
        #expect(slot("Kelvin") == 1)
        #expect(slot("acm") == nil)
        #expect(slot("") == nil)
        // Past 16 bytes a key's rest is compared too.
        let long = SubjectTable(["tenant-0001/user-0001": 0, "tenant-0001/user-0002": 1])
        func longSlot(_ subject: String) -> Int? { Array(subject.utf8).withUnsafeBytes { long.slot(of: $0) } }
        #expect(longSlot("tenant-0001/user-0001") == 0)
        #expect(longSlot("tenant-0001/user-0002") == 1)
        #expect(longSlot("tenant-0001/user-0003") == nil)
        #expect(longSlot("tenant-0001/user-000") == nil)
    }
}
