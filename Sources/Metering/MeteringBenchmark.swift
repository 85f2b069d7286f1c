import Billing
import Foundation

/// Parse + de-duplicate + aggregate a whole NDJSON file in memory: the measurement behind the
/// figures in README.md, kept in the library so it runs against exactly the shipped code.
public enum MeteringBenchmark {
    public struct Result: Sendable {
        /// Lines read (blank lines skipped).
        public var events: Int
        public var accepted: Int
        public var duplicates: Int
        public var rejected: Int
        public var segments: Int
        public var duration: Duration
        public var aggregator: UsageAggregator

        public var eventsPerSecond: Int {
            let (seconds, attoseconds) = duration.components
            let micros = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
            return micros > 0 ? Int(Int64(events) * 1_000_000 / micros) : 0
        }
    }

    /// Reads, parses, de-duplicates on (source, id) (first occurrence wins) and aggregates hourly.
    ///
    /// With several threads every thread walks all lines but fully parses only the events whose
    /// subject hash falls in its share (a quick look at the top-level `subject`; lines it cannot
    /// read go to thread 0). Each thread de-duplicates its share in file order; exact duplicate
    /// lines share a subject, so they meet in one thread. Segments are keyed by subject, so the
    /// partial aggregates are disjoint and merge by appending. Then the threads check, in
    /// parallel, that no (source, id) was accepted by two threads (an id reused for another
    /// subject); if one was, the run is repeated on one thread, which is always exact.
    public static func parseAndAggregate(path: String, meters: [Meter] = EventGenerator.meters, threads: Int = 2,
                                         window: @escaping UsageWindow = UsageWindows.hourly) throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let parser = try EventParser(meters: meters)
        var result = data.withUnsafeBytes { bytes in run(bytes, parser: parser, threads: max(1, threads), window: window) }
        result.duration = clock.now - start
        return result
    }

    /// The same over bytes already in memory.
    public static func parseAndAggregate(bytes: UnsafeRawBufferPointer, parser: EventParser, threads: Int,
                                         window: @escaping UsageWindow = UsageWindows.hourly) -> Result {
        run(bytes, parser: parser, threads: max(1, threads), window: window)
    }

    static func run(_ bytes: UnsafeRawBufferPointer, parser: EventParser, threads: Int, window: @escaping UsageWindow) -> Result {
        let partials = Partials(count: threads)
        let share = SharedBytes(bytes: bytes)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            partials.set(t, Worker(parser: parser, share: t, of: threads, window: window).run(share.bytes))
        }
        var workers = partials.all()
        if threads > 1, hasCrossShareDuplicate(workers, bytes: share, parser: parser) {
            workers = [Worker(parser: parser, share: 0, of: 1, window: window).run(bytes)]
        }
        var aggregator = workers[0].aggregator
        for worker in workers.dropFirst() { aggregator.merge(worker.aggregator) }
        return Result(events: workers.reduce(0) { $0 + $1.lines },
                      accepted: workers.reduce(0) { $0 + $1.accepted },
                      duplicates: workers.reduce(0) { $0 + $1.duplicates },
                      rejected: workers.reduce(0) { $0 + $1.rejected },
                      segments: aggregator.count, duration: .zero, aggregator: aggregator)
    }

    /// True when two threads accepted the same (source, id). Each thread probes its own
    /// entries against the others' tables; equal hashes are confirmed on the lines' bytes.
    static func hasCrossShareDuplicate(_ workers: [Worker], bytes: SharedBytes, parser: EventParser) -> Bool {
        let found = Partials.Flags(count: workers.count)
        DispatchQueue.concurrentPerform(iterations: workers.count) { t in
            let mine = workers[t].table
            var conflict = false
            mine.forEach { hash, offset in
                guard !conflict else { return }
                for other in workers.indices where other > t {
                    let hit = workers[other].table.payload(hash: hash) { otherOffset in
                        Worker.identity(atLine: otherOffset, in: bytes.bytes, parser: parser)
                            == Worker.identity(atLine: offset, in: bytes.bytes, parser: parser)
                    }
                    if hit != nil { conflict = true }
                }
            }
            found.set(t, conflict)
        }
        return found.any
    }

    struct Worker: Sendable {
        let parser: EventParser
        let share: Int
        let shares: Int
        var aggregator: UsageAggregator
        var table = DedupeTable(minimumCapacity: 1 << 16)
        var lines = 0, accepted = 0, duplicates = 0, rejected = 0
        var touchSink = 0

        init(parser: EventParser, share: Int, of shares: Int, window: @escaping UsageWindow) {
            self.parser = parser
            self.share = share
            self.shares = shares
            self.aggregator = UsageAggregator(meters: parser.meters, window: window)
        }

        static func identity(atLine offset: Int, in bytes: UnsafeRawBufferPointer, parser: EventParser) -> EventIdentity? {
            let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<lineEnd(bytes, from: offset)])
            if case .accepted(let event) = parser.parse(line) { return event.identity }
            return nil
        }

        static func lineEnd(_ bytes: UnsafeRawBufferPointer, from offset: Int) -> Int {
            guard offset < bytes.count,
                  let found = memchr(bytes.baseAddress! + offset, 0x0A, bytes.count - offset) else { return bytes.count }
            return bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
        }

        /// Lines are parsed in batches, and the batch's de-duplication and series entries are
        /// read before any is used: the loads are independent, so the CPU overlaps their cache
        /// misses instead of waiting for each in turn (a probe into millions of keys misses
        /// almost always, and waiting for them one by one was the largest single cost).
        consuming func run(_ bytes: UnsafeRawBufferPointer) -> Worker {
            let batchSize = 32
            var batch: [(offset: Int, event: UsageEvent)] = []
            batch.reserveCapacity(batchSize)
            var offset = 0
            while offset < bytes.count {
                let end = Worker.lineEnd(bytes, from: offset)
                defer { offset = end + 1 }
                let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
                // Blank lines separate nothing in NDJSON: skipped, not counted.
                if line.isEmpty || (line[0] != UInt8(ascii: "{") && line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })) {
                    continue
                }
                if shares > 1 {
                    let owner = EventScanner.quickSubjectHash(line).map { Int($0 % UInt64(shares)) } ?? 0
                    guard owner == share else { continue }
                }
                lines += 1
                switch parser.parse(line) {
                case .rejected:
                    rejected += 1
                case .accepted(let event):
                    batch.append((offset, event))
                    if batch.count == batchSize { flush(&batch, bytes) }
                }
            }
            flush(&batch, bytes)
            return self
        }

        private mutating func flush(_ batch: inout [(offset: Int, event: UsageEvent)], _ bytes: UnsafeRawBufferPointer) {
            // Stored, so the loads cannot be optimised away.
            for item in batch { touchSink &+= table.touch(hash: item.event.identity.hash) }
            touchSink &+= Int(truncatingIfNeeded: aggregator.touch(batch.lazy.map(\.event)))
            for (lineStart, event) in batch {
                let previous = table.insertIfAbsent(hash: event.identity.hash, payload: lineStart) { earlier in
                    Worker.identity(atLine: earlier, in: bytes, parser: parser) == event.identity
                }
                if previous != nil {
                    duplicates += 1
                } else {
                    accepted += 1
                    aggregator.add(event)
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }

    final class Partials: @unchecked Sendable {
        private var workers: [Worker?]
        private let lock = NSLock()
        init(count: Int) { workers = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ worker: Worker) { lock.withLock { workers[index] = worker } }
        func all() -> [Worker] { lock.withLock { workers.map { $0! } } }

        final class Flags: @unchecked Sendable {
            private var flags: [Bool]
            private let lock = NSLock()
            init(count: Int) { flags = Array(repeating: false, count: count) }
            func set(_ index: Int, _ value: Bool) { lock.withLock { flags[index] = value } }
            var any: Bool { lock.withLock { flags.contains(true) } }
        }
    }

    /// The mapped file, read-only and alive for the whole run.
    struct SharedBytes: @unchecked Sendable { let bytes: UnsafeRawBufferPointer }
}

extension EventScanner {
    /// FNV-1a of the top-level `subject` when it is a plain string, read without parsing the
    /// rest; nil for anything else.
    static func quickSubjectHash(_ line: UnsafeRawBufferPointer) -> UInt64? {
        EventScanner(meters: MeterSet.empty, line: line).quickSubject()
    }

    func quickSubject() -> UInt64? {
        var j = skipSpace(0)
        guard at(j) == UInt8(ascii: "{") else { return nil }
        j = skipSpace(j + 1)
        while true {
            guard at(j) == UInt8(ascii: "\""), let keyEnd = scanString(j) else { return nil }
            let keyStart = j + 1
            j = skipSpace(keyEnd + 1)
            guard at(j) == UInt8(ascii: ":") else { return nil }
            j = skipSpace(j + 1)
            if literalEquals(keyStart, keyEnd, "subject") {
                guard at(j) == UInt8(ascii: "\""), let end = scanString(j) else { return nil }
                return FNV1a.hash(UnsafeRawBufferPointer(rebasing: p[(j + 1)..<end]))
            }
            guard let next = skipValue(j, depth: 1) else { return nil }
            j = skipSpace(next)
            guard at(j) == UInt8(ascii: ",") else { return nil }
            j = skipSpace(j + 1)
        }
    }
}

extension MeterSet {
    static let empty = try! MeterSet(meters: [])
}
