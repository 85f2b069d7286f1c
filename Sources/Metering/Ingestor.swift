import Billing
import Dispatch
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
        return try ingest(input: input) { try reader.next(maxLines: chunkLines) }
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

    /// Two halves overlap on the machine's two cores: while a worker thread records one chunk's
    /// de-duplication keys (and quarantines its rejected lines) in the store, this thread
    /// aggregates the chunk before it and reads, parses and attributes the next. Only one thread
    /// uses the store connection at a time: the worker between a submit and its wait, this
    /// thread otherwise (beginning and committing transactions).
    func ingest(input: String, next: () throws -> LineChunk?) throws -> IngestSummary {
        var summary = IngestSummary()
        var group: CommitGroup?
        var firstLine = 1
        var pending: (prepared: PreparedChunk, fresh: Pending<[Bool]>)?
        let worker = DispatchQueue(label: "tollbooth.ingest.keys")
        let store = UncheckedSendable(value: self.store)
        do {
            while true {
                let chunk = try next()
                let prepared = chunk.map { prepare($0, firstLine: firstLine) }
                firstLine += chunk?.lineCount ?? 0
                var previous: (chunk: PreparedChunk, fresh: [Bool])?
                if let (chunk, fresh) = pending {
                    pending = nil
                    previous = (chunk, try fresh.wait())
                }
                // The worker is idle here. A transaction ends with the chunk that fills it (or
                // the input's last): aggregate that one now, then commit.
                if let last = previous, prepared == nil || group!.lines + last.chunk.chunk.lineCount >= commitLines {
                    aggregate(last.chunk, fresh: last.fresh, group: &group!, summary: &summary)
                    previous = nil
                    if group!.lines >= commitLines {
                        try commit(group!, input: input, summary: &summary)
                        group = nil
                    }
                }
                guard let prepared else { break }
                if group == nil {
                    try self.store.database.begin()
                    group = CommitGroup(batch: try self.store.beginBatch(input: input, at: now), firstLine: prepared.firstLine,
                                        segments: SegmentBuilder(meters: parser.meters, subscriptions: subscriptions.count))
                }
                let batch = group!.batch
                let keys = prepared.candidates.map {
                    EventKey(hash: $0.event.identity.storageKey, hash2: Ingestor.secondHash($0.event.identity), time: $0.event.time)
                }
                let result = Pending<[Bool]>()
                worker.async {
                    result.resolve(Result {
                        for rejection in prepared.rejected {
                            try store.value.quarantine(batch: batch, line: rejection.line, reason: rejection.reason,
                                                       raw: prepared.chunk.text(line: rejection.line - prepared.firstLine))
                        }
                        return try store.value.recordEventKeys(keys)
                    })
                }
                pending = (prepared, result)
                // While the worker records this chunk's keys, aggregate the one before.
                if let last = previous { aggregate(last.chunk, fresh: last.fresh, group: &group!, summary: &summary) }
                var sofar = summary
                sofar.accepted += group!.accepted
                sofar.duplicates += group!.duplicates
                sofar.rejected += group!.rejected
                progress(sofar)
            }
            if let open = group { try commit(open, input: input, summary: &summary) }
        } catch {
            _ = try? pending?.fresh.wait()
            if group != nil { self.store.database.rollback() }
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

    /// Adds a chunk's new events (those `fresh` marks) to the open transaction's segments.
    func aggregate(_ prepared: PreparedChunk, fresh: [Bool], group: inout CommitGroup, summary: inout IngestSummary) {
        var accepted = 0
        for (index, candidate) in prepared.candidates.enumerated() where fresh[index] {
            let window = windowStart(candidate.subscription, candidate.event.time)
            let isLate = window.seconds < lastClosed[candidate.subscription]
            group.segments.add(candidate.event, subscription: candidate.subscription, window: window, late: isLate, parser: parser)
            accepted += 1
            if isLate { group.late += 1 }
        }
        group.lines += prepared.chunk.lineCount
        group.accepted += accepted
        group.duplicates += prepared.candidates.count - accepted
        group.rejected += prepared.rejected.count
        summary.rejections += prepared.rejected.prefix(max(0, 100 - summary.rejections.count))
    }

    /// Parses a chunk's lines (the store works on the other core meanwhile).
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

/// Segment pieces of one transaction, keyed by subscription, meter, window and group-by values.
struct SegmentBuilder {
    struct Key: Hashable {
        var subscription: Int32
        var meter: Int32
        var window: Int64
        var group: Int32
    }

    let meters: MeterSet
    var index: [Key: Int] = [:]
    /// Per (subscription, meter, group below `cachedGroups`): the slot of its latest segment,
    /// plus one (0: none). Nearly every event falls in its series' latest window, found here
    /// without hashing.
    var latestSlot: [Int32]
    static let cachedGroups = 8
    var keys: [Key] = []
    var aggregates: [UsageAggregate] = []
    var late: [Bool] = []
    /// Interned group-by texts ("model=gpt-4o"); 0 is no group-by.
    var groups: [String] = [""]
    /// Per meter with one group-by: its values' texts -> group id, without building the text.
    var groupIDs: [[String: Int32]]

    init(meters: MeterSet, subscriptions: Int) {
        self.meters = meters
        groupIDs = Array(repeating: [:], count: meters.meters.count)
        latestSlot = Array(repeating: 0, count: subscriptions * meters.meters.count * SegmentBuilder.cachedGroups)
    }

    mutating func add(_ event: UsageEvent, subscription: Int, window: Instant, late isLate: Bool, parser: EventParser) {
        for meter in event.meterIndices {
            let key = Key(subscription: Int32(subscription), meter: Int32(meter), window: window.seconds, group: group(of: event, meter: meter))
            let cache = key.group < SegmentBuilder.cachedGroups
                ? (subscription * meters.meters.count + meter) * SegmentBuilder.cachedGroups + Int(key.group) : -1
            let slot: Int
            if cache >= 0, latestSlot[cache] > 0, keys[Int(latestSlot[cache]) - 1] == key {
                slot = Int(latestSlot[cache]) - 1
            } else if let found = index[key] {
                slot = found
            } else {
                slot = keys.count
                index[key] = slot
                keys.append(key)
                aggregates.append(UsageAggregate())
                late.append(isLate)
            }
            if cache >= 0 { latestSlot[cache] = Int32(slot + 1) }
            aggregates[slot].add(parser.reading(of: event, meter: meter), at: event.time)
        }
    }

    mutating func group(of event: UsageEvent, meter: Int) -> Int32 {
        let slots = meters.groupSlots[meter]
        guard !slots.isEmpty else { return 0 }
        // The common case, one group-by: look its value up directly.
        let value = slots.count == 1 ? (event.values[slots[0]]?.keyText ?? "") : meters.groupKey(of: event, meter: meter)
        if let id = groupIDs[meter][value] { return id }
        let id = Int32(groups.count)
        groups.append(slots.count == 1 ? "\(meters.groupNames[meter][0])=\(value)" : value)
        groupIDs[meter][value] = id
        return id
    }

    /// The pieces in key order (subscriptions are numbered in id order), ready to append.
    func pieces(subscriptionIds: [String]) -> [SegmentPiece] {
        let order = keys.indices.sorted {
            let a = keys[$0], b = keys[$1]
            if a.subscription != b.subscription { return a.subscription < b.subscription }
            if a.meter != b.meter {
                return meters.meters[Int(a.meter)].slug.utf8.lexicographicallyPrecedes(meters.meters[Int(b.meter)].slug.utf8)
            }
            if a.window != b.window { return a.window < b.window }
            return groups[Int(a.group)].utf8.lexicographicallyPrecedes(groups[Int(b.group)].utf8)
        }
        return order.map { slot in
            let key = keys[slot], aggregate = aggregates[slot]
            let latest = aggregate.latest
            return SegmentPiece(subscriptionId: subscriptionIds[Int(key.subscription)], meterSlug: meters.meters[Int(key.meter)].slug,
                                windowStart: Instant(seconds: key.window), groupKey: groups[Int(key.group)], count: aggregate.count,
                                sum: aggregate.sum.description, min: aggregate.min?.description ?? "0", max: aggregate.max?.description ?? "0",
                                latestTime: latest?.time ?? Instant(seconds: key.window), latestValue: latest?.value.description ?? "0",
                                late: late[slot], uniqueValues: aggregate.distinct.sorted())
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
    var buffer: [UInt8]

    /// Reads `block` bytes at a time (8 MiB by default).
    init(descriptor: Int32, block: Int = 8 << 20) {
        self.descriptor = descriptor
        buffer = [UInt8](repeating: 0, count: block)
    }

    mutating func next(maxLines: Int) throws -> LineChunk? {
        var bytes = pending
        pending = []
        var lines: [Range<Int>] = []
        var lineStart = 0
        var scanned = 0
        while true {
            // Cut the lines read so far; memchr finds each newline.
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                while scanned < raw.count, lines.count < maxLines {
                    guard let hit = memchr(base + scanned, 0x0A, raw.count - scanned) else {
                        scanned = raw.count
                        break
                    }
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    lines.append(lineStart..<index)
                    lineStart = index + 1
                    scanned = index + 1
                }
            }
            if lines.count >= maxLines { break }
            if finished { break }
            let read = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
            if read < 0 { throw CocoaError(.fileReadUnknown) }
            buffer.withUnsafeBytes { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<read])) }
            if read == 0 {
                finished = true
                if lineStart < bytes.count { lines.append(lineStart..<bytes.count); lineStart = bytes.count }
            }
        }
        if lineStart < bytes.count { pending = Array(bytes[lineStart...]) }
        guard !lines.isEmpty else { return nil }
        bytes.removeSubrange(lineStart...)
        return LineChunk(bytes: bytes, lines: lines)
    }
}

/// A result another thread delivers once; `wait` blocks until it has.
final class Pending<Value: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var result: Result<Value, any Error>?

    func resolve(_ result: Result<Value, any Error>) {
        self.result = result
        ready.signal()
    }

    func wait() throws -> Value {
        ready.wait()
        ready.signal()
        return try result!.get()
    }
}

/// Hands values that are only ever used by one thread at a time to another thread.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
