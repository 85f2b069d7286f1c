import Billing
internal import CPrefetch
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
/// one: see `SeenEvents` for how far apart in time a repeat may be), or rejected (quarantined
/// with its line number and reason).
///
/// Input is parsed in chunks of whole lines and committed every
/// `commitLines` lines and at its end: the de-duplication keys, segments and quarantined lines of
/// a transaction commit together or not at all, so a crash never loses an accepted event or
/// counts one twice (the input is simply ingested again), and a bad line never rolls back its
/// neighbours.
public final class Ingestor {
    let store: any Store
    private(set) var now: Instant
    let retention: ISODuration
    /// What attribution reads from the store: loaded at the start and again when a transaction
    /// begins after another writer changed subscriptions, subjects or the catalog.
    var catalog: Catalog
    var customerKeys: [String] = []
    /// The subscriptions' service spans, each customer's together in start order.
    var flatSpans: [Span] = []
    /// Per customer slot, where its spans are in `flatSpans`, and its latest span.
    var customerSpans: [CustomerSpans] = []
    var subscriptions: [Subscription] = []
    /// Per subscription, the latest closed bill date (seconds), or Int64.min: read inside each
    /// write transaction, so an event in a period a bill run closed before it is late.
    var lastClosed: [Int64] = []
    /// The store's attribution revision the state above was loaded at.
    var revision: Int64 = -1
    /// The closes revision `lastClosed` was read at (nil: read them again).
    var closesRevision: Int64?
    /// One per part of a chunk parsed at once (parts run on separate threads).
    var partStates: [PartState] = []
    /// The de-duplication keys of the days in `loadedDays`, and those this ingest accepted.
    /// One table per lane: a key belongs to lane `hash % lanes`.
    var seen = (0..<Ingestor.lanes).map { _ in SeenEvents() }
    var loadedDays: Set<Int32> = []
    /// The newest key block in `seen`: blocks other writers add later are read in when a
    /// transaction begins.
    var keyBlockMark: Int64 = 0
    /// This ingest's own batches, whose key blocks are in `seen` already.
    public private(set) var ownBatches: Set<Int64> = []
    /// Keys each lane's table is to make room for before it next takes keys (see `ingest`).
    var keysToReserve = 0
    private(set) var earliest: Int64
    private(set) var latest: Int64
    /// Lines parsed at a time.
    public var chunkLines = 131_072
    /// Bytes read from a file or pipe before a chunk is handed on (the end of input hands on
    /// what there is).
    var readBlock = 16 << 20
    /// Lines per transaction: their de-duplication keys, segments and quarantined lines commit
    /// together. Segments are written once per transaction, so a larger one writes fewer pieces.
    public var commitLines = 2_097_152
    /// How long an open transaction waits for the next chunk of input before committing what
    /// it has: a slow producer never keeps the write lock from a bill run.
    public var inputWaitMillis = 200
    public var progress: (IngestSummary) -> Void = { _ in }
    /// Keep the segment pieces of the last commit in `committedPieces` (the server adds them to
    /// the usage its checks count).
    public var keepsCommittedPieces = false
    public private(set) var committedPieces: [SegmentPiece] = []
    /// Where commits write their segment rows: the segments, or (the server, which commits
    /// small groups often) the usage log that is folded into them in the background.
    public var segmentTable = SegmentTable.segments
    /// Called once the input's first chunk is read, before its write transaction begins (a
    /// failpoint for tests that let another command commit in between).
    public var beforeTransaction: () -> Void = {}

    public init(store: any Store, now: Instant, dedupeRetention: ISODuration) throws {
        self.store = store
        self.now = now
        retention = dedupeRetention
        catalog = Catalog()
        earliest = dedupeRetention.adding(times: -1, to: now).seconds
        latest = now.seconds + 300
        try loadAttribution()
        keyBlockMark = try store.lastEventKeyBlock()
        // Writing segments checks each one's subscription (a foreign key) and lands in the
        // segment B-tree: with SQLite's default 2 MB page cache both miss at almost every row.
        try store.useLargeCache()
    }

    /// Moves "now" for a long-running ingest (the server): events are judged too old or too far
    /// in the future against it.
    public func advance(to now: Instant) {
        self.now = now
        earliest = retention.adding(times: -1, to: now).seconds
        latest = now.seconds + 300
    }

    /// Reads the catalog, subscriptions and subjects that attribute events to subscriptions.
    func loadAttribution() throws {
        let counters = try store.changeCounters()
        revision = counters["attribution"] ?? 0
        closesRevision = counters["closes"]
        catalog = try store.catalog()
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
        customerKeys = keys
        var flat: [Span] = []
        customerSpans = spans.map { customer in
            let first = flat.count
            flat += customer.map { Span(subscription: Int32($0.subscription), start: $0.start, end: $0.end) }
            return CustomerSpans(first: Int32(first), count: Int32(customer.count), latest: flat.last ?? Span(subscription: -1, start: 0, end: 0))
        }
        flatSpans = flat
        var states: [PartState] = []
        for _ in 0..<Ingestor.lanes {
            states.append(PartState(subscriptions: records.count, parser: try EventParser(meters: catalog.meters),
                                    subjects: SubjectTable(customerSlots)))
        }
        partStates = states
        lastClosed = try closedBillDates()
    }

    func closedBillDates() throws -> [Int64] {
        let closed = try store.lastClosedBillDates()
        return subscriptions.map { closed[$0.id]?.seconds ?? Int64.min }
    }

    /// Inside a new write transaction, before any input is attributed in it: catches up with
    /// what other writers committed since this ingest last looked. Subscriptions, subjects or
    /// the catalog changed: everything attribution reads is loaded again. Periods closed: events
    /// in them are late from now on. Key blocks added: their keys are repeats too.
    func catchUp() throws {
        let counters = try store.changeCounters()
        if counters["attribution"] ?? 0 != revision {
            try loadAttribution()
        } else if counters["closes"] != closesRevision {
            closesRevision = counters["closes"]
            let closed = try closedBillDates()
            if closed != lastClosed {
                lastClosed = closed
                // Cached windows carry whether they were late: forget them.
                for state in partStates { state.forgetWindows() }
            }
        }
        keyBlockMark = try store.forEachEventKey(after: keyBlockMark, days: loadedDays, skippingBatches: ownBatches) { day, hash, hash2 in
            let hash = UInt64(bitPattern: hash)
            seen[Int(hash & UInt64(Ingestor.lanes - 1))].insert(hash, UInt64(bitPattern: hash2), day: Int32(day))
        }
    }

    /// Ingests NDJSON read from `descriptor` (a file or standard input), named `input` in the
    /// store's batch records.
    public func ingest(descriptor: Int32, input: String) throws -> IngestSummary {
        let reader = Box(LineChunkReader(descriptor: descriptor, block: readBlock)), lines = chunkLines
        // A file's size tells how many keys to make room for; a pipe's is unknown.
        var status = stat()
        let size = fstat(descriptor, &status) == 0 && status.st_mode & S_IFMT == S_IFREG ? Int(status.st_size) : 0
        return try ingest(input: input, bytes: size) { try reader.value.next(maxLines: lines) }
    }

    /// Ingests NDJSON held in memory.
    public func ingest(_ data: Data, input: String) throws -> IngestSummary {
        let chunks = Box(LineChunk.split(Array(data), maxLines: chunkLines).makeIterator())
        return try ingest(input: input, bytes: data.count) { chunks.value.next() }
    }

    /// Ingests several inputs (the bodies of concurrent HTTP requests) in one transaction; each
    /// gets its own summary, its rejections numbered by its own lines. All or nothing: when the
    /// commit fails, none is stored.
    public func ingest(parts: [[UInt8]], input: String) throws -> [IngestSummary] {
        guard !parts.isEmpty else { return [] }
        return try ingest(input: input, deciding: { parts })
    }

    /// `ingest(parts:input:)` for inputs decided inside the write transaction (the consuming
    /// checks of servers sharing a database): `decide` runs once the transaction has begun and
    /// returns the parts to store, an empty one for a request that stores nothing;
    /// `beforeCommit` runs once they are written (segments and all), with their summaries. When no part has a line,
    /// what `decide` wrote is committed without an ingest batch.
    public func ingest(input: String, deciding decide: () throws -> [[UInt8]],
                       beforeCommit: ([IngestSummary]) throws -> Void = { _ in }) throws -> [IngestSummary] {
        committedPieces = []
        try store.beginWrite()
        let parts: [[UInt8]]
        do {
            try catchUp()
            parts = try decide()
            if parts.allSatisfy(\.isEmpty) {
                try beforeCommit(parts.map { _ in IngestSummary() })
                try store.commitWrite()
                return parts.map { _ in IngestSummary() }
            }
        } catch {
            store.rollbackWrite()
            throw error
        }
        do {
            var group = try openGroup(input: input, firstLine: 1, inTransaction: true)
            // Each part's chunks, numbered on from the previous part's lines.
            var chunks: [(part: Int, chunk: LineChunk, firstLine: Int)] = []
            var firstLine = 1, partFirstLines: [Int] = []
            for (index, part) in parts.enumerated() {
                partFirstLines.append(firstLine)
                for chunk in LineChunk.split(part, maxLines: chunkLines) {
                    chunks.append((index, chunk, firstLine))
                    firstLine += chunk.lineCount
                }
            }
            // Parsed on both cores, a lane taking every other chunk, then de-duplicated and
            // aggregated in one pass, in input order.
            let results = chunks.map { _ in Pending<PreparedChunk>() }
            let ingestor = UncheckedSendable(value: (self, chunks))
            DispatchQueue.concurrentPerform(iterations: min(Ingestor.lanes, chunks.count)) { lane in
                let (ingestor, chunks) = ingestor.value
                for index in stride(from: lane, to: chunks.count, by: Ingestor.lanes) {
                    results[index].resolve(.success(ingestor.prepare(chunks[index].chunk, firstLine: chunks[index].firstLine,
                                                                      state: ingestor.partStates[lane])))
                }
            }
            let counts = try add(results.map { try $0.wait() }, group: &group)
            var summaries = [IngestSummary](repeating: IngestSummary(), count: parts.count)
            for (index, chunk) in chunks.enumerated() {
                let partFirst = partFirstLines[chunk.part]
                summaries[chunk.part].accepted += counts[index].accepted
                summaries[chunk.part].duplicates += counts[index].duplicates
                summaries[chunk.part].rejected += counts[index].rejected.count
                summaries[chunk.part].late += counts[index].late
                summaries[chunk.part].rejections += counts[index].rejected.map { ($0.line - partFirst + 1, $0.reason) }
            }
            for index in summaries.indices { summaries[index].rejections = Array(summaries[index].rejections.prefix(100)) }
            var total = IngestSummary()
            try commit(group, input: input, summary: &total) { try beforeCommit(summaries) }
            return summaries
        } catch {
            store.rollbackWrite()
            throw error
        }
    }

    /// Begins a write transaction (unless the caller has begun it and caught up) and its
    /// batch. Everything from here to the commit happens under the write lock, against what
    /// other writers committed before it: closes, subscriptions, keys (`catchUp`).
    func openGroup(input: String, firstLine: Int, inTransaction: Bool = false) throws -> CommitGroup {
        if !inTransaction { try store.beginWrite() }
        do {
            if !inTransaction { try catchUp() }
            let batch = try store.beginBatch(input: input, at: now)
            ownBatches.insert(batch)
            return CommitGroup(batch: batch, firstLine: firstLine,
                               // Each lane's builder reads the meters of a part of its own (see `PartState`).
                               segments: partStates.map { SegmentBuilder(meters: $0.parser.meters, subscriptions: subscriptions.count) },
                               newKeys: Array(repeating: DayKeys(), count: Ingestor.lanes))
        } catch {
            if !inTransaction { store.rollbackWrite() }
            throw error
        }
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
        /// Per lane, the segments of the subscriptions it aggregates.
        var segments: [SegmentBuilder]
        /// Per lane, the keys this transaction accepted.
        var newKeys: [DayKeys]
    }

    /// Threads that share a chunk's work: parsing by ranges of lines, then de-duplication and
    /// aggregation by key. Each lane owns its part of the state, so no locks.
    static let lanes = 2

    /// How many candidates ahead a lane asks for the memory a candidate's key and segment need.
    static let prefetchDistance = 10

    /// Ranges of subscriptions a commit turns into segment rows one at a time: the first is
    /// ready to write soon, the others are built while it is written.
    static let commitRanges = 8

    /// Each chunk goes through two phases, each split over the lanes: parse and attribute (by
    /// ranges of lines), then de-duplicate and aggregate (by key, each lane walking its
    /// candidates in input order so the first copy of an event is the one accepted). Meanwhile a
    /// reader thread reads the next chunk. Only this thread uses the store. `bytes` is the input's
    /// size when known, else 0.
    func ingest(input: String, bytes: Int, next: @escaping () throws -> LineChunk?) throws -> IngestSummary {
        var summary = IngestSummary()
        var group: CommitGroup?
        var firstLine = 1
        let reader = DispatchQueue(label: "tollbooth.ingest.read")
        let source = UncheckedSendable(value: next)
        func startReading() -> Pending<LineChunk?> {
            let chunk = Pending<LineChunk?>()
            reader.async { chunk.resolve(Result { try source.value() }) }
            return chunk
        }
        var reading = startReading()
        do {
            while let chunk = try reading.wait() {
                reading = startReading()
                if firstLine == 1, bytes > 0, chunk.lineCount > 0 {
                    // Room for a key per line of the input, as long as its lines are like the first chunk's.
                    keysToReserve = bytes / max(1, chunk.bytes.count / chunk.lineCount) / Ingestor.lanes
                }
                if group == nil {
                    beforeTransaction()
                    group = try openGroup(input: input, firstLine: firstLine)
                }
                let prepared = prepare(chunk, firstLine: firstLine, parts: Ingestor.lanes)
                firstLine += chunk.lineCount
                try add(prepared, group: &group!, summary: &summary)
                // Freeing a chunk's many small arrays is work too: the reader thread does it.
                reader.async { withExtendedLifetime(prepared) {} }
                // Input that is slow to come (a pipe) is committed as it arrives rather than
                // holding the write lock while waiting for more.
                if group!.lines >= commitLines || !reading.isReady(withinMillis: inputWaitMillis) {
                    try commit(group!, input: input, summary: &summary)
                    group = nil
                }
                var sofar = summary
                sofar.accepted += group?.accepted ?? 0
                sofar.duplicates += group?.duplicates ?? 0
                sofar.rejected += group?.rejected ?? 0
                progress(sofar)
            }
            if let open = group { try commit(open, input: input, summary: &summary) }
        } catch {
            _ = try? reading.wait()
            if group != nil { store.rollbackWrite() }
            throw error
        }
        return summary
    }

    /// Writes what the group holds and commits it; `beforeCommit` runs once everything is
    /// written, just before the commit.
    func commit(_ group: CommitGroup, input: String, summary: inout IngestSummary, beforeCommit: () throws -> Void = {}) throws {
        // Other threads turn the segments into rows, a range of subscriptions at a time in write
        // order, while this one stores the keys and then each range's rows as soon as they are
        // ready: only the store's own work is left on this thread.
        let ids = subscriptions.map(\.id), ranges = Ingestor.commitRanges
        let size = (ids.count + ranges - 1) / ranges
        let results = (0..<ranges).map { _ in Pending<[SegmentPiece]>() }
        let builders = UncheckedSendable(value: (group.segments, ids))
        DispatchQueue.global().async {
            DispatchQueue.concurrentPerform(iterations: ranges) { index in
                let (segments, ids) = builders.value
                let range = Int32(min(index * size, ids.count))..<Int32(min((index + 1) * size, ids.count))
                results[index].resolve(.success(SegmentBuilder.pieces(of: segments, subscriptions: range, subscriptionIds: ids)))
            }
        }
        for day in Set(group.newKeys.flatMap(\.days)).sorted() {
            try store.appendEventKeys(parts: group.newKeys.map { $0.halves(day: day) }, day: Int64(day), batch: group.batch)
        }
        committedPieces = []
        for result in results {
            let pieces = try result.wait()
            try store.writeSegments(pieces, batch: group.batch, into: segmentTable)
            if keepsCommittedPieces { committedPieces += pieces }
        }
        // Keys of days older than dedupeRetention (and the day before, which a repeat on the
        // first retained day may name) are no longer needed: such events are refused as too old.
        try store.pruneEventKeys(before: Instant(seconds: earliest - EventKeyBlock.secondsPerDay))
        try store.finishBatch(group.batch, input: "\(input) lines \(group.firstLine)-\(group.firstLine + group.lines - 1)",
                              accepted: group.accepted, duplicates: group.duplicates, rejected: group.rejected, at: now)
        // Every block up to here is in `seen`: this transaction's, or read in by `catchUp` or `load`.
        keyBlockMark = try store.lastEventKeyBlock()
        try beforeCommit()
        try store.commitWrite()
        summary.accepted += group.accepted
        summary.duplicates += group.duplicates
        summary.rejected += group.rejected
        summary.late += group.late
    }

    // MARK: One chunk

    /// The de-duplication keys a lane accepted in the open transaction, per UTC day, as 64-bit
    /// halves (hash, hash2, ...) ready to store.
    struct DayKeys {
        private(set) var days: [Int32] = []
        private var blocks: [[UInt64]] = []
        /// The block of the latest key: input is mostly in time order, so the next key's day.
        private var current = -1

        mutating func append(_ hash: UInt64, _ hash2: UInt64, day: Int32) {
            if current < 0 || days[current] != day {
                if let found = days.firstIndex(of: day) {
                    current = found
                } else {
                    days.append(day)
                    blocks.append([])
                    current = days.count - 1
                }
            }
            blocks[current].append(hash)
            blocks[current].append(hash2)
        }

        func halves(day: Int32) -> [UInt64] {
            days.firstIndex(of: day).map { blocks[$0] } ?? []
        }
    }

    /// An event that passed every check but de-duplication: what aggregation needs of it,
    /// without the texts of its identity.
    struct Candidate: Sendable {
        /// What its first meter takes; `more` holds the rest (empty, no allocation, when the
        /// event's type feeds one meter).
        var input: SegmentBuilder.Input
        var more: [SegmentBuilder.Input]
        var time: Instant
        /// The 128-bit hash of `(source, id)`.
        var hash: UInt64
        var hash2: UInt64
        /// The start of its segment window, in seconds.
        var window: Int64
        var subscription: Int32
        /// The UTC day of its time: where its key is kept.
        var day: Int32
        /// True when the window lies in a period already closed.
        var late: Bool
    }

    /// A chunk parsed and attributed, ready for the store.
    struct PreparedChunk: Sendable {
        var chunk: LineChunk
        var firstLine: Int
        /// In input order, the candidates of each range of lines parsed at once, split by the
        /// lane that owns their key (`parts[part][lane]`, each in input order).
        var parts: [[[Candidate]]]
        var rejected: [(line: Int, reason: String)]
        /// The UTC days of the candidates' times.
        var days: Set<Int32>
    }

    /// Parses and attributes a chunk's lines, `parts` ranges of lines at once: pure work on
    /// values, safe off the store's thread.
    func prepare(_ chunk: LineChunk, firstLine: Int, parts: Int = 1) -> PreparedChunk {
        let size = (chunk.lineCount + parts - 1) / max(parts, 1)
        let ranges = stride(from: 0, to: chunk.lineCount, by: max(size, 1)).map { $0..<min($0 + size, chunk.lineCount) }
        let results = (0..<ranges.count).map { _ in Pending<(candidates: [[Candidate]], rejected: [(line: Int, reason: String)], days: Set<Int32>)>() }
        let ingestor = UncheckedSendable(value: self)
        DispatchQueue.concurrentPerform(iterations: ranges.count) { part in
            let state = ingestor.value.partStates[part % ingestor.value.partStates.count]
            results[part].resolve(.success(ingestor.value.prepare(chunk, lines: ranges[part], firstLine: firstLine, state: state)))
        }
        var prepared = PreparedChunk(chunk: chunk, firstLine: firstLine, parts: [], rejected: [], days: [])
        for result in results {
            let part = try! result.wait()
            prepared.parts.append(part.candidates)
            prepared.rejected += part.rejected
            prepared.days.formUnion(part.days)
        }
        return prepared
    }

    /// Parses and attributes a whole chunk with one lane's state.
    func prepare(_ chunk: LineChunk, firstLine: Int, state: PartState) -> PreparedChunk {
        let part = prepare(chunk, lines: 0..<chunk.lineCount, firstLine: firstLine, state: state)
        return PreparedChunk(chunk: chunk, firstLine: firstLine, parts: [part.candidates], rejected: part.rejected, days: part.days)
    }

    func prepare(_ chunk: LineChunk, lines: Range<Int>, firstLine: Int, state: PartState)
        -> (candidates: [[Candidate]], rejected: [(line: Int, reason: String)], days: Set<Int32>) {
        var days: Set<Int32> = []
        var lastDay = Int32.min
        let lanes = Ingestor.lanes
        var candidates = [[Candidate]](repeating: [], count: lanes)
        var rejected: [(line: Int, reason: String)] = []
        for lane in 0..<lanes { candidates[lane].reserveCapacity(lines.count / lanes + lines.count / 16) }
        do {
            let bytes = chunk.bytes, parser = state.parser, subjects = state.subjects
            var scanner = parser.ingestScanner()
            for index in lines {
                let line = UnsafeRawBufferPointer(rebasing: bytes[chunk.lines[index]])
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                switch parser.parseForIngest(line, scanner: &scanner, subjects: subjects) {
                case .rejected(let rejection): rejected.append((firstLine + index, rejection.message))
                case .accepted(let event):
                    switch attribute(customer: event.customer, unknownSubject: event.unknownSubject, time: event.time) {
                    case .success(let subscription):
                        let (window, late) = self.window(subscription, event.time, cache: &state.latest)
                        let day = Int32(EventKeyBlock.day(of: event.time.seconds))
                        if day != lastDay { days.insert(day); lastDay = day }
                        let lane = Int(event.hash & UInt64(lanes - 1))
                        candidates[lane].append(Candidate(input: event.input, more: event.more, time: event.time,
                                                          hash: event.hash, hash2: event.hash2,
                                                          window: window, subscription: Int32(subscription), day: day,
                                                          late: late))
                    case .failure(let problem): rejected.append((firstLine + index, problem.reason))
                    }
                }
            }
        }
        return (candidates, rejected, days)
    }

    /// Adds a parsed chunk to the open transaction: de-duplicates its candidates against every
    /// key seen (loading the days they fall on from the store first), adds the new ones to the
    /// segments and quarantines its rejected lines.
    func add(_ prepared: PreparedChunk, group: inout CommitGroup, summary: inout IngestSummary) throws {
        let counts = try add([prepared], group: &group)[0]
        summary.rejections += counts.rejected.prefix(max(0, 100 - summary.rejections.count))
    }

    /// What `add` found in one chunk.
    struct ChunkCounts {
        var accepted = 0
        var duplicates = 0
        var late = 0
        var rejected: [(line: Int, reason: String)] = []
    }

    /// Adds parsed chunks, in order, in one pass: each lane walks its candidates of every chunk
    /// in input order. Returns each chunk's counts.
    func add(_ chunks: [PreparedChunk], group: inout CommitGroup) throws -> [ChunkCounts] {
        for day in Set(chunks.flatMap(\.days)) where !loadedDays.contains(day) { try load(around: day) }
        let lanes = Ingestor.lanes
        // Per lane, per chunk: events accepted and late.
        var accepted = [[Int]](repeating: [Int](repeating: 0, count: chunks.count), count: lanes)
        var late = accepted
        // Lane `hash % lanes` owns a key and aggregates the events it accepts; each lane walks
        // its candidates in input order, so the first copy of an event is the one accepted. A
        // subscription's segments are split over the lanes and merged at commit.
        seen.withUnsafeMutableBufferPointer { seen in
            group.newKeys.withUnsafeMutableBufferPointer { newKeys in
                group.segments.withUnsafeMutableBufferPointer { segments in
                    accepted.withUnsafeMutableBufferPointer { accepted in
                        late.withUnsafeMutableBufferPointer { late in
                            let shared = UncheckedSendable(value: (chunks, seen, newKeys, segments, accepted, late, keysToReserve))
                            DispatchQueue.concurrentPerform(iterations: lanes) { lane in
                                let (chunks, seen, newKeys, segments, accepted, late, reserve) = shared.value
                                // Each lane fills its own table's memory: on both cores at once.
                                if reserve > 0 { seen[lane].reserve(seen[lane].count + reserve) }
                                for (chunk, prepared) in chunks.enumerated() {
                                    for part in prepared.parts {
                                        part[lane].withUnsafeBufferPointer { candidates in
                                            for index in candidates.indices {
                                                // The memory a later candidate will need is asked for now, so the
                                                // waits for it overlap this candidate's work.
                                                let ahead = index + Ingestor.prefetchDistance
                                                if ahead < candidates.count {
                                                    seen[lane].prefetch(candidates[ahead].hash)
                                                    segments[lane].prefetch(subscription: Int(candidates[ahead].subscription), meter: Int(candidates[ahead].input.meter))
                                                }
                                                let hash = candidates[index].hash, hash2 = candidates[index].hash2, day = candidates[index].day
                                                guard seen[lane].insertUnlessRepeat(hash, hash2, day: day) else { continue }
                                                newKeys[lane].append(hash, hash2, day: day)
                                                let time = candidates[index].time, subscription = Int(candidates[index].subscription)
                                                let window = candidates[index].window
                                                segments[lane].add(candidates[index].input, time: time, subscription: subscription, window: window)
                                                for input in candidates[index].more {
                                                    segments[lane].add(input, time: time, subscription: subscription, window: window)
                                                }
                                                accepted[lane][chunk] += 1
                                                if candidates[index].late { late[lane][chunk] += 1 }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        keysToReserve = 0
        var counts: [ChunkCounts] = []
        for (index, prepared) in chunks.enumerated() {
            for rejection in prepared.rejected {
                try store.quarantine(batch: group.batch, line: rejection.line, reason: rejection.reason,
                                     raw: prepared.chunk.text(line: rejection.line - prepared.firstLine))
            }
            let added = (0..<lanes).reduce(0) { $0 + accepted[$1][index] }
            let candidates = prepared.parts.joined().reduce(0) { $0 + $1.count }
            counts.append(ChunkCounts(accepted: added, duplicates: candidates - added, late: (0..<lanes).reduce(0) { $0 + late[$1][index] },
                                      rejected: prepared.rejected))
            group.lines += prepared.chunk.lineCount
            group.accepted += added
            group.late += counts[index].late
            group.duplicates += candidates - added
            group.rejected += prepared.rejected.count
        }
        return counts
    }

    /// Loads the stored keys of today and the days either side now, rather than when the first
    /// event of today arrives (a server's first requests would wait for them).
    public func loadTodaysKeys() throws {
        try load(around: Int32(EventKeyBlock.day(of: now.seconds)))
    }

    /// Loads the stored keys of `day` and the days either side, the ones a repeat of an event on
    /// `day` may be recorded under.
    func load(around day: Int32) throws {
        for near in day - 1...day + 1 where loadedDays.insert(near).inserted {
            try store.forEachEventKey(day: Int64(near)) { hash, hash2 in
                let hash = UInt64(bitPattern: hash)
                seen[Int(hash & UInt64(Ingestor.lanes - 1))].insert(hash, UInt64(bitPattern: hash2), day: near)
            }
        }
    }
}
