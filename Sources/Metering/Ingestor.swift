import Billing
import Foundation
import Store

/// What one ingest did with its input.
public struct IngestSummary: Sendable {
    public var accepted = 0
    public var duplicates = 0
    public var rejected = 0
    /// Accepted events whose period was already closed: billed as late usage.
    public var late = 0
    /// The first rejections, for the command's report: (line, reason).
    public var rejections: [(line: Int, reason: String)] = []
    public var lines: Int { accepted + duplicates + rejected }
}

/// Reads CloudEvents NDJSON into the store: every line ends up accepted (aggregated into usage
/// segments), a duplicate (its `(source, id)` was seen before, in this input or any earlier
/// one), or rejected (quarantined with its line number and reason).
///
/// Input is parsed in chunks of whole lines (two threads per chunk) and committed every
/// `commitLines` lines and at its end: the de-duplication keys, segments and quarantined lines of
/// a transaction commit together or not at all, so a crash never loses an accepted event or
/// counts one twice (the input is simply ingested again), and a bad line never rolls back its
/// neighbours.
public final class Ingestor {
    let store: Store
    let parser: EventParser
    let now: Instant
    let retention: ISODuration
    let catalog: Catalog
    /// Subject -> the customer's slot in `spans`.
    let customerSlots: [String: Int]
    let customerKeys: [String]
    /// Per customer, its subscriptions' service spans in start order.
    let spans: [[(subscription: Int, start: Int64, end: Int64)]]
    let subscriptions: [Subscription]
    /// Per subscription, the latest closed bill date (seconds), or Int64.min.
    let lastClosed: [Int64]
    /// Per subscription, the window of its latest event: most events fall in it again.
    var windows: [SegmentWindows?]
    let earliest: Int64
    let latest: Int64
    /// Lines parsed at a time.
    public var chunkLines = 131_072
    /// Lines per transaction: their de-duplication keys, segments and quarantined lines commit
    /// together. Segments are written once per transaction, so a larger one writes fewer pieces.
    public var commitLines = 2_097_152
    public var progress: (IngestSummary) -> Void = { _ in }

    public init(store: Store, now: Instant, dedupeRetention: ISODuration) throws {
        self.store = store
        self.now = now
        retention = dedupeRetention
        catalog = try store.catalog()
        parser = try EventParser(meters: catalog.meters)
        let records = try store.subscriptions(catalog: catalog)
        // Subscriptions in byte order of their ids: the order segments are written in.
        subscriptions = records.map(\.subscription).sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        var keys: [String] = []
        var slotOf: [String: Int] = [:]
        var spans: [[(subscription: Int, start: Int64, end: Int64)]] = []
        func slot(_ customer: String) -> Int {
            if let slot = slotOf[customer] { return slot }
            keys.append(customer)
            spans.append([])
            slotOf[customer] = keys.count - 1
            return keys.count - 1
        }
        for (index, subscription) in subscriptions.enumerated() {
            spans[slot(subscription.customerKey)].append((index, subscription.start.seconds, subscription.serviceEnd?.seconds ?? Int64.max))
        }
        // A customer without subscriptions still has a slot, so its events are rejected as
        // outside every subscription rather than as an unknown subject.
        var customerSlots: [String: Int] = [:]
        for (subject, customer) in try store.subjectOwners() { customerSlots[subject] = slot(customer) }
        for index in spans.indices { spans[index].sort { $0.start < $1.start } }
        self.customerSlots = customerSlots
        customerKeys = keys
        self.spans = spans
        let closed = try store.lastClosedBillDates()
        lastClosed = subscriptions.map { closed[$0.id]?.seconds ?? Int64.min }
        windows = Array(repeating: nil, count: subscriptions.count)
        earliest = dedupeRetention.adding(times: -1, to: now).seconds
        latest = now.seconds + 300
        // The de-duplication keys are spread over the whole key table: keep its pages in memory.
        try store.database.execute("PRAGMA cache_size = -262144")
    }

    /// Ingests NDJSON read from `descriptor` (a file or standard input), named `input` in the
    /// store's batch records.
    public func ingest(descriptor: Int32, input: String) throws -> IngestSummary {
        var reader = LineChunkReader(descriptor: descriptor)
        let lines = chunkLines
        return try ingest(input: input) { try reader.next(maxLines: lines) }
    }

    /// Ingests NDJSON held in memory.
    public func ingest(_ data: Data, input: String) throws -> IngestSummary {
        var chunks = LineChunk.split(Array(data), maxLines: chunkLines).makeIterator()
        return try ingest(input: input) { chunks.next() }
    }

    /// The open transaction: what its chunks added so far.
    struct CommitGroup {
        var batch: Int64
        var firstLine: Int
        var lines = 0
        var accepted = 0
        var duplicates = 0
        var rejected = 0
        var late = 0
        var segments: SegmentBuilder
    }

    /// Reading, parsing and attributing run on a second thread, one chunk ahead of the store
    /// work on this one: the two halves of an ingest overlap on the machine's two cores.
    func ingest(input: String, next: @escaping () throws -> LineChunk?) throws -> IngestSummary {
        var summary = IngestSummary()
        var group: CommitGroup?
        let pipe = ChunkPipe<PreparedChunk>(capacity: 1)
        let producer = UncheckedSendable(value: (next: next, ingestor: self))
        let thread = Thread {
            var firstLine = 1
            do {
                while let chunk = try producer.value.next() {
                    let prepared = producer.value.ingestor.prepare(chunk, firstLine: firstLine)
                    firstLine += chunk.lineCount
                    guard pipe.put(prepared) else { return }
                }
                pipe.finish(nil)
            } catch {
                pipe.finish(error)
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
        defer { pipe.cancel() }
        do {
            while let prepared = try pipe.take() {
                if group == nil {
                    try store.database.begin()
                    group = CommitGroup(batch: try store.beginBatch(input: input, at: now), firstLine: prepared.firstLine,
                                        segments: SegmentBuilder(meters: parser.meters))
                }
                try record(prepared, group: &group!, summary: &summary)
                if group!.lines >= commitLines {
                    try commit(group!, input: input, summary: &summary)
                    group = nil
                }
                progress(summary)
            }
            if let open = group { try commit(open, input: input, summary: &summary) }
        } catch {
            if group != nil { store.database.rollback() }
            throw error
        }
        return summary
    }

    func commit(_ group: CommitGroup, input: String, summary: inout IngestSummary) throws {
        try store.writeSegments(group.segments.pieces(subscriptionIds: subscriptions.map(\.id)), batch: group.batch)
        try store.finishBatch(group.batch, input: "\(input) lines \(group.firstLine)-\(group.firstLine + group.lines - 1)",
                              accepted: group.accepted, duplicates: group.duplicates, rejected: group.rejected, at: now)
        try store.database.commit()
        summary.accepted += group.accepted
        summary.duplicates += group.duplicates
        summary.rejected += group.rejected
        summary.late += group.late
    }

    // MARK: One chunk

    /// An event that passed every check but de-duplication.
    struct Candidate: Sendable {
        var event: UsageEvent
        var subscription: Int
        var line: Int
    }

    enum Outcome {
        case candidate(UsageEvent)
        case rejected(String)
        case blank
    }

    /// A chunk parsed and attributed, ready for the store.
    struct PreparedChunk: Sendable {
        var chunk: LineChunk
        var firstLine: Int
        var candidates: [Candidate]
        var rejected: [(line: Int, reason: String)]
    }

    /// Parses and attributes a chunk's lines: pure work on values, safe off the store's thread.
    func prepare(_ chunk: LineChunk, firstLine: Int) -> PreparedChunk {
        var candidates: [Candidate] = []
        var rejected: [(line: Int, reason: String)] = []
        candidates.reserveCapacity(chunk.lineCount)
        for (offset, outcome) in parse(chunk).enumerated() {
            let line = firstLine + offset
            switch outcome {
            case .blank: continue
            case .rejected(let reason): rejected.append((line, reason))
            case .candidate(let event):
                switch attribute(event) {
                case .success(let subscription): candidates.append(Candidate(event: event, subscription: subscription, line: line))
                case .failure(let problem): rejected.append((line, problem.reason))
                }
            }
        }
        return PreparedChunk(chunk: chunk, firstLine: firstLine, candidates: candidates, rejected: rejected)
    }

    /// De-duplicates a prepared chunk against the store and adds what is new to the open
    /// transaction's segments; quarantines its rejected lines.
    func record(_ prepared: PreparedChunk, group: inout CommitGroup, summary: inout IngestSummary) throws {
        let candidates = prepared.candidates
        let fresh = try store.recordEventKeys(candidates.map {
            EventKey(hash: $0.event.identity.storageKey, hash2: Ingestor.secondHash($0.event.identity), time: $0.event.time)
        })
        var accepted = 0
        for (index, candidate) in candidates.enumerated() where fresh[index] {
            let window = windowStart(candidate.subscription, candidate.event.time)
            let isLate = window.seconds < lastClosed[candidate.subscription]
            group.segments.add(candidate.event, subscription: candidate.subscription, window: window, late: isLate, parser: parser)
            accepted += 1
            if isLate { group.late += 1 }
        }
        for rejection in prepared.rejected {
            try store.quarantine(batch: group.batch, line: rejection.line, reason: rejection.reason,
                                 raw: prepared.chunk.text(line: rejection.line - prepared.firstLine))
        }
        group.lines += prepared.chunk.lineCount
        group.accepted += accepted
        group.duplicates += candidates.count - accepted
        group.rejected += prepared.rejected.count
        summary.rejections += prepared.rejected.prefix(max(0, 100 - summary.rejections.count))
    }

    /// Parses a chunk's lines on the calling thread (the store works on the other core).
    func parse(_ chunk: LineChunk) -> [Outcome] {
        chunk.bytes.withUnsafeBytes { bytes in
            chunk.lines.map { range in
                let line = UnsafeRawBufferPointer(rebasing: bytes[range])
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return .blank }
                switch parser.parse(line) {
                case .accepted(let event): return .candidate(event)
                case .rejected(let rejection): return .rejected(rejection.message)
                }
            }
        }
    }

    // MARK: Attribution

    struct AttributionProblem: Error {
        let reason: String
    }

    /// The subscription (an index into `subscriptions`) in effect at the event's time for its
    /// subject, or why there is none.
    func attribute(_ event: UsageEvent) -> Result<Int, AttributionProblem> {
        guard let slot = customerSlots[event.subject] else {
            return .failure(AttributionProblem(reason: "unknown subject \"\(event.subject.prefix(80))\": no customer has it as a usage-attribution key"))
        }
        let time = event.time.seconds
        if time > latest {
            return .failure(AttributionProblem(reason: "time \(event.time.rfc3339) is more than 5 minutes in the future"))
        }
        if time < earliest {
            return .failure(AttributionProblem(reason: "time \(event.time.rfc3339) is older than dedupeRetention \(retention.text): too old to de-duplicate"))
        }
        guard let span = spans[slot].last(where: { $0.start <= time && time < $0.end }) else {
            return .failure(AttributionProblem(reason: "time \(event.time.rfc3339) is outside every subscription of customer \(customerKeys[slot])"))
        }
        return .success(span.subscription)
    }

    /// The start of the segment window holding `time`: windows are cut at every boundary the
    /// subscription bills or counts quota at, so every period is a union of whole windows.
    func windowStart(_ subscription: Int, _ time: Instant) -> Instant {
        if let cached = windows[subscription], let start = cached.start(containing: time) { return start }
        let window = SegmentWindows(subscription: subscriptions[subscription], containing: time)
        windows[subscription] = window
        return window.span.start
    }

    /// A second, independent 64-bit hash of `(source, id)`: with the first, a 128-bit identity.
    static func secondHash(_ identity: EventIdentity) -> Int64 {
        var state: UInt64 = 0x84222325_cbf29ce4
        for byte in identity.id.utf8 { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        state = (state ^ 0xFE) &* 0x0000_0100_0000_01B3
        for byte in identity.source.utf8 { state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int64(bitPattern: state)
    }
}

/// The segment window of a subscription around an instant: from the latest boundary at or
/// before it (subscription start, phase start, a billing period of the plan or a rate card, a
/// usage period of a metered entitlement) to the next one.
struct SegmentWindows {
    let span: Period

    init(subscription: Subscription, containing time: Instant) {
        var start = subscription.start
        var end = subscription.serviceEnd ?? Instant(seconds: Int64.max / 2)
        if let window = subscription.phaseWindows.last(where: { $0.contains(time) }) {
            start = max(start, window.start)
            if let phaseEnd = window.end { end = min(end, phaseEnd) }
            var cadences = [subscription.plan.billingCadence]
            for card in window.phase.rateCards {
                if let cadence = card.billingCadence { cadences.append(cadence) }
                if let period = card.meteredEntitlement?.usagePeriod { cadences.append(period) }
            }
            for cadence in Set(cadences) {
                let period = PeriodSchedule(anchor: window.anchor, cadence: cadence).period(containing: time)
                start = max(start, period.start)
                end = min(end, period.end)
            }
        }
        span = Period(start: start, end: max(start, end))
    }

    func start(containing time: Instant) -> Instant? { span.contains(time) ? span.start : nil }
}

/// Segment pieces of one chunk, keyed by subscription, meter, window and group-by values.
struct SegmentBuilder {
    struct Key: Hashable {
        var subscription: Int32
        var meter: Int32
        var window: Int64
        var group: Int32
    }

    let meters: MeterSet
    var aggregates: [Key: (aggregate: UsageAggregate, late: Bool)] = [:]
    var groups: [String] = [""]
    var groupIDs: [String: Int32] = ["": 0]

    init(meters: MeterSet) { self.meters = meters }

    mutating func add(_ event: UsageEvent, subscription: Int, window: Instant, late: Bool, parser: EventParser) {
        for meter in event.meterIndices {
            let text = meters.groupKey(of: event, meter: meter)
            let group: Int32
            if text.isEmpty {
                group = 0
            } else if let id = groupIDs[text] {
                group = id
            } else {
                group = Int32(groups.count)
                groups.append(text)
                groupIDs[text] = group
            }
            let key = Key(subscription: Int32(subscription), meter: Int32(meter), window: window.seconds, group: group)
            aggregates[key, default: (UsageAggregate(), late)].aggregate.add(parser.reading(of: event, meter: meter), at: event.time)
        }
    }

    /// The pieces in key order (subscriptions are numbered in id order), ready to append.
    func pieces(subscriptionIds: [String]) -> [SegmentPiece] {
        let keys = aggregates.keys.sorted {
            if $0.subscription != $1.subscription { return $0.subscription < $1.subscription }
            if $0.meter != $1.meter {
                return meters.meters[Int($0.meter)].slug.utf8.lexicographicallyPrecedes(meters.meters[Int($1.meter)].slug.utf8)
            }
            if $0.window != $1.window { return $0.window < $1.window }
            return groups[Int($0.group)].utf8.lexicographicallyPrecedes(groups[Int($1.group)].utf8)
        }
        return keys.map { key in
            let (aggregate, late) = aggregates[key]!
            let latest = aggregate.latest
            return SegmentPiece(subscriptionId: subscriptionIds[Int(key.subscription)], meterSlug: meters.meters[Int(key.meter)].slug,
                                windowStart: Instant(seconds: key.window), groupKey: groups[Int(key.group)], count: aggregate.count,
                                sum: aggregate.sum.description, min: aggregate.min?.description ?? "0", max: aggregate.max?.description ?? "0",
                                latestTime: latest?.time ?? Instant(seconds: key.window), latestValue: latest?.value.description ?? "0",
                                late: late, uniqueValues: aggregate.distinct.sorted())
        }
    }
}

extension MeterSet {
    /// The group-by values of an event for a meter as one text: "model=large&region=eu", names
    /// sorted; an absent value is empty.
    func groupKey(of event: UsageEvent, meter index: Int) -> String {
        let slots = groupSlots[index]
        guard !slots.isEmpty else { return "" }
        return zip(groupNames[index], slots).map { name, slot in "\(name)=\(event.values[slot]?.keyText ?? "")" }.joined(separator: "&")
    }
}

/// Whole lines of input: the bytes and each line's range (without its newline).
struct LineChunk: Sendable {
    var bytes: [UInt8]
    var lines: [Range<Int>]

    var lineCount: Int { lines.count }

    func text(line index: Int) -> String {
        String(decoding: bytes[lines[index]], as: UTF8.self)
    }

    /// Splits bytes into chunks of at most `maxLines` lines.
    static func split(_ bytes: [UInt8], maxLines: Int) -> [LineChunk] {
        var ranges: [Range<Int>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            ranges.append(start..<index)
            start = index + 1
        }
        if start < bytes.count { ranges.append(start..<bytes.count) }
        var chunks: [LineChunk] = []
        var from = 0
        while from < ranges.count {
            let to = min(ranges.count, from + maxLines)
            let offset = ranges[from].lowerBound
            let end = ranges[to - 1].upperBound
            chunks.append(LineChunk(bytes: Array(bytes[offset..<end]),
                                    lines: ranges[from..<to].map { ($0.lowerBound - offset)..<($0.upperBound - offset) }))
            from = to
        }
        return chunks
    }
}

/// Reads a file descriptor in large blocks and hands out chunks of whole lines.
struct LineChunkReader {
    let descriptor: Int32
    var pending: [UInt8] = []
    var finished = false
    static let block = 8 << 20

    init(descriptor: Int32) { self.descriptor = descriptor }

    mutating func next(maxLines: Int) throws -> LineChunk? {
        var bytes = pending
        pending = []
        var lines: [Range<Int>] = []
        var lineStart = 0
        var scanned = 0
        while true {
            // Cut the lines read so far.
            while scanned < bytes.count, lines.count < maxLines {
                if bytes[scanned] == 0x0A {
                    lines.append(lineStart..<scanned)
                    lineStart = scanned + 1
                }
                scanned += 1
            }
            if lines.count >= maxLines { break }
            if finished { break }
            let oldCount = bytes.count
            bytes.reserveCapacity(oldCount + LineChunkReader.block)
            var buffer = [UInt8](repeating: 0, count: LineChunkReader.block)
            let read = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, LineChunkReader.block) }
            if read < 0 { throw CocoaError(.fileReadUnknown) }
            if read == 0 {
                finished = true
                if lineStart < bytes.count { lines.append(lineStart..<bytes.count); lineStart = bytes.count }
                continue
            }
            bytes.append(contentsOf: buffer[0..<read])
        }
        if lineStart < bytes.count { pending = Array(bytes[lineStart...]) }
        guard !lines.isEmpty else { return nil }
        bytes.removeSubrange(lineStart...)
        return LineChunk(bytes: bytes, lines: lines)
    }
}

/// A bounded hand-over between the reading thread and the store's thread.
final class ChunkPipe<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Waits for room; false once the consumer has gone.
    func put(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    func finish(_ error: (any Error)?) {
        condition.lock()
        finished = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next item; nil when the producer is done; rethrows the producer's error.
    func take() throws -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !finished { condition.wait() }
        if !items.isEmpty {
            let item = items.removeFirst()
            condition.broadcast()
            return item
        }
        if let failure { throw failure }
        return nil
    }
}

/// Hands values that are only ever used by one thread at a time to another thread.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
