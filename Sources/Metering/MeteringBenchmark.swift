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
    /// identity hash falls in its share, so each thread de-duplicates its share alone, in file
    /// order, and the partial aggregates merge. Lines whose identity the quick look cannot read
    /// go to thread 0; if such a line's real identity belongs to another thread's share and that
    /// thread saw it too, the run is repeated on one thread, which is always exact.
    public static func parseAndAggregate(path: String, meters: [Meter] = EventGenerator.meters,
                                         threads: Int = 2) throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let parser = try EventParser(meters: meters)
        var result = data.withUnsafeBytes { bytes in run(bytes, parser: parser, threads: max(1, threads)) }
        result.duration = clock.now - start
        return result
    }

    /// The same over bytes already in memory.
    public static func parseAndAggregate(bytes: UnsafeRawBufferPointer, parser: EventParser, threads: Int) -> Result {
        run(bytes, parser: parser, threads: max(1, threads))
    }

    static func run(_ bytes: UnsafeRawBufferPointer, parser: EventParser, threads: Int) -> Result {
        let partials = Partials(count: threads)
        let share = SharedBytes(bytes: bytes)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            partials.set(t, Worker(parser: parser, share: t, of: threads).run(share.bytes))
        }
        var workers = partials.all()
        if threads > 1, hasCrossShareDuplicate(workers, bytes: bytes, parser: parser) {
            workers = [Worker(parser: parser, share: 0, of: 1).run(bytes)]
        }
        var aggregator = workers[0].aggregator
        for worker in workers.dropFirst() { aggregator.merge(worker.aggregator) }
        return Result(events: workers.reduce(0) { $0 + $1.lines },
                      accepted: workers.reduce(0) { $0 + $1.accepted },
                      duplicates: workers.reduce(0) { $0 + $1.duplicates },
                      rejected: workers.reduce(0) { $0 + $1.rejected },
                      segments: aggregator.segments.count, duration: .zero, aggregator: aggregator)
    }

    /// True when an event thread 0 took for lack of a quick identity is also in another share.
    static func hasCrossShareDuplicate(_ workers: [Worker], bytes: UnsafeRawBufferPointer, parser: EventParser) -> Bool {
        for identity in workers[0].misplaced {
            let owner = Int(identity.hash % UInt64(workers.count))
            if owner == 0 { continue }
            let found = workers[owner].table.payload(hash: identity.hash) { offset in
                Worker.identity(atLine: offset, in: bytes, parser: parser) == identity
            }
            if found != nil { return true }
        }
        return false
    }

    struct Worker: Sendable {
        let parser: EventParser
        let share: Int
        let shares: Int
        var aggregator: UsageAggregator
        var table = DedupeTable(minimumCapacity: 1 << 16)
        var lines = 0, accepted = 0, duplicates = 0, rejected = 0
        /// Identities read by the full parse only, outside this worker's hash share.
        var misplaced: [EventIdentity] = []

        init(parser: EventParser, share: Int, of shares: Int) {
            self.parser = parser
            self.share = share
            self.shares = shares
            self.aggregator = UsageAggregator(meters: parser.meters)
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

        consuming func run(_ bytes: UnsafeRawBufferPointer) -> Worker {
            var offset = 0
            while offset < bytes.count {
                let end = Worker.lineEnd(bytes, from: offset)
                defer { offset = end + 1 }
                let line = UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                let quick = shares > 1 ? EventScanner.quickIdentityHash(line) : nil
                if shares > 1 {
                    let owner = quick.map { Int($0 % UInt64(shares)) } ?? 0
                    guard owner == share else { continue }
                }
                lines += 1
                switch parser.parse(line) {
                case .rejected:
                    rejected += 1
                case .accepted(let event):
                    if shares > 1, quick == nil, Int(event.identity.hash % UInt64(shares)) != share {
                        misplaced.append(event.identity)
                    }
                    let lineStart = offset
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
            }
            return self
        }
    }

    final class Partials: @unchecked Sendable {
        private var workers: [Worker?]
        private let lock = NSLock()
        init(count: Int) { workers = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ worker: Worker) { lock.withLock { workers[index] = worker } }
        func all() -> [Worker] { lock.withLock { workers.map { $0! } } }
    }

    /// The mapped file, read-only and alive for the whole run.
    struct SharedBytes: @unchecked Sendable { let bytes: UnsafeRawBufferPointer }
}

extension EventScanner {
    /// The identity hash of a line whose top-level `id` and `source` are plain strings, read
    /// without parsing the rest; nil for anything else. Agrees with the full parse whenever the
    /// full parse accepts the line with the same `id` and `source` (a repeated key is the one
    /// way it cannot, which the benchmark's misplaced check covers).
    static func quickIdentityHash(_ line: UnsafeRawBufferPointer) -> UInt64? {
        let scanner = EventScanner(meters: MeterSet.empty, line: line)
        return scanner.quickIdentity()
    }

    func quickIdentity() -> UInt64? {
        var j = skipSpace(0)
        guard at(j) == UInt8(ascii: "{") else { return nil }
        j = skipSpace(j + 1)
        var id: Range<Int>? = nil, source: Range<Int>? = nil
        while true {
            guard at(j) == UInt8(ascii: "\""), let keyEnd = scanString(j) else { return nil }
            let keyStart = j + 1
            j = skipSpace(keyEnd + 1)
            guard at(j) == UInt8(ascii: ":") else { return nil }
            j = skipSpace(j + 1)
            let isID = keyEquals(keyStart, keyEnd, Keys.id), isSource = keyEquals(keyStart, keyEnd, Keys.source)
            if isID || isSource {
                guard at(j) == UInt8(ascii: "\""), let end = scanString(j) else { return nil }
                if isID { id = (j + 1)..<end } else { source = (j + 1)..<end }
                j = end + 1
                if let id, let source {
                    return EventIdentity.hash(source: UnsafeRawBufferPointer(rebasing: p[source]),
                                              id: UnsafeRawBufferPointer(rebasing: p[id]))
                }
            } else {
                guard let next = skipValue(j, depth: 1) else { return nil }
                j = next
            }
            j = skipSpace(j)
            guard at(j) == UInt8(ascii: ",") else { return nil }
            j = skipSpace(j + 1)
        }
    }
}

extension MeterSet {
    static let empty = try! MeterSet(meters: [])
}
