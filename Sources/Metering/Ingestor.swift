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
    let store: Store
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

    public init(store: Store, now: Instant, dedupeRetention: ISODuration) throws {
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
        try store.database.execute("PRAGMA cache_size = -65536")
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
        var group = try openGroup(input: input, firstLine: 1)
        do {
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
            try commit(group, input: input, summary: &total)
            return summaries
        } catch {
            store.database.rollback()
            throw error
        }
    }

    /// Begins a write transaction and its batch. Everything from here to the commit happens under
    /// the write lock, against what other writers committed before it: closes, subscriptions,
    /// keys (`catchUp`).
    func openGroup(input: String, firstLine: Int) throws -> CommitGroup {
        try store.database.begin()
        do {
            try catchUp()
            let batch = try store.beginBatch(input: input, at: now)
            ownBatches.insert(batch)
            return CommitGroup(batch: batch, firstLine: firstLine,
                               // Each lane's builder reads the meters of a part of its own (see `PartState`).
                               segments: partStates.map { SegmentBuilder(meters: $0.parser.meters, subscriptions: subscriptions.count) },
                               newKeys: Array(repeating: DayKeys(), count: Ingestor.lanes))
        } catch {
            store.database.rollback()
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
            if group != nil { store.database.rollback() }
            throw error
        }
        return summary
    }

    func commit(_ group: CommitGroup, input: String, summary: inout IngestSummary) throws {
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
        try store.database.commit()
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

    // MARK: Attribution

    struct AttributionProblem: Error {
        let reason: String
    }

    /// The subscription (an index into `subscriptions`) in effect at the event's time for its
    /// subject's customer (a slot in `customerSpans`), or why there is none.
    func attribute(customer: Int?, unknownSubject: String, time instant: Instant) -> Result<Int, AttributionProblem> {
        guard let slot = customer else {
            return .failure(AttributionProblem(reason: "unknown subject \"\(unknownSubject.prefix(80))\": no customer has it as a usage-attribution key"))
        }
        let time = instant.seconds
        if time > latest {
            return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is more than 5 minutes in the future"))
        }
        if time < earliest {
            return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is older than dedupeRetention \(retention.text): too old to de-duplicate"))
        }
        // Spans of one customer are in start order and rarely more than a few: walk back from
        // the latest, kept with the customer's slot.
        let customer = customerSpans[slot]
        if customer.latest.start <= time && time < customer.latest.end { return .success(Int(customer.latest.subscription)) }
        var index = Int(customer.first + customer.count) - 1
        while index > Int(customer.first) {
            index -= 1
            let span = flatSpans[index]
            if span.start <= time && time < span.end { return .success(Int(span.subscription)) }
        }
        return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is outside every subscription of customer \(customerKeys[slot])"))
    }

    /// The start of the segment window holding `time`, and whether the window lies in a period
    /// already closed: windows are cut at every boundary the subscription bills or counts quota
    /// at, so every period is a union of whole windows. `cache` holds each subscription's latest
    /// window: most events fall in it again.
    func window(_ subscription: Int, _ time: Instant, cache: inout [CachedWindow]) -> (start: Int64, late: Bool) {
        let cached = cache[subscription], seconds = time.seconds
        if cached.start <= seconds && seconds < cached.end { return (cached.start, cached.late) }
        let span = SegmentWindows(subscription: subscriptions[subscription], containing: time).span
        let window = CachedWindow(start: span.start.seconds, end: span.end.seconds, late: span.start.seconds < lastClosed[subscription])
        cache[subscription] = window
        return (window.start, window.late)
    }

    /// A subscription's service span, in seconds.
    struct Span {
        var subscription: Int32
        var start: Int64
        var end: Int64
    }

    struct CustomerSpans {
        var first: Int32
        var count: Int32
        /// The span at `first + count - 1`, or an empty one: most customers have one span, found
        /// here with no other memory read.
        var latest: Span
    }
}

/// The segment window of a subscription around an instant: from the latest boundary at or
/// before it (subscription start, phase start, a billing period of the plan or a rate card, a
/// usage period of a metered entitlement, and UTC midnight in a phase with a quota) to the next
/// one. Cutting at midnight makes each UTC day's usage exact (the usage page's daily chart).
struct SegmentWindows {
    let span: Period

    init(subscription: Subscription, containing time: Instant) {
        var start = subscription.start
        var end = subscription.serviceEnd ?? Instant(seconds: Int64.max / 2)
        if let window = subscription.phaseWindows.last(where: { $0.contains(time) }) {
            start = max(start, window.start)
            if let phaseEnd = window.end { end = min(end, phaseEnd) }
            // A phase with a quota shows its usage per UTC day (the usage page's chart): its
            // windows end at midnight. Others keep period-long windows, far fewer rows when a
            // customer has few events a day.
            if window.phase.rateCards.contains(where: { $0.meteredEntitlement != nil }) {
                let midnight = EventKeyBlock.day(of: time.seconds) * EventKeyBlock.secondsPerDay
                start = max(start, Instant(seconds: midnight))
                end = min(end, Instant(seconds: midnight + EventKeyBlock.secondsPerDay))
            }
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
}

/// A subscription's segment window in seconds, `[start, end)`, and whether it lies in a period
/// already closed.
struct CachedWindow {
    var start: Int64
    var end: Int64
    var late: Bool
}

/// What one part of a chunk's parsing uses, one per thread parsing at once. Used by one thread
/// at a time.
final class PartState: @unchecked Sendable {
    /// Per subscription, the segment window of its latest event (empty before one): most events
    /// fall in it again.
    var latest: [CachedWindow]
    /// A parser and subject table of the part's own: the threads would otherwise count
    /// references to the same objects on every line, each write taking the memory from the
    /// other core.
    let parser: EventParser
    let subjects: SubjectTable

    init(subscriptions: Int, parser: EventParser, subjects: SubjectTable) {
        latest = Array(repeating: CachedWindow(start: 0, end: 0, late: false), count: subscriptions)
        self.parser = parser
        self.subjects = subjects
    }

    func forgetWindows() {
        for index in latest.indices { latest[index] = CachedWindow(start: 0, end: 0, late: false) }
    }
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
    /// Interned group-by texts ("model=gpt-4o"); 0 is no group-by.
    var groups: [String] = [""]
    var groupByText: [String: Int32] = ["": 0]
    /// Per meter with one group-by: its values' texts -> group id, without building the text.
    var groupIDs: [[String: Int32]]

    init(meters: MeterSet, subscriptions: Int) {
        self.meters = meters
        groupIDs = Array(repeating: [:], count: meters.meters.count)
        latestSlot = Array(repeating: 0, count: subscriptions * meters.meters.count * SegmentBuilder.cachedGroups)
    }

    /// What one meter takes from one event, worked out off the aggregating thread.
    struct Input: Sendable {
        var meter: Int32
        /// The group-by value text (`MeterSet.groupValue`); empty without a group-by.
        var group: String
        var reading: MeterReading

        init(values: [DataValue?], meter: Int, meters: MeterSet) {
            self.meter = Int32(meter)
            group = meters.groupValue(of: values, meter: meter)
            reading = meters.reading(of: values, meter: meter)
        }
    }

    mutating func add(_ input: Input, time: Instant, subscription: Int, window: Int64) {
        let meter = Int(input.meter)
        let key = Key(subscription: Int32(subscription), meter: input.meter, window: window, group: group(input.group, meter: meter))
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
        }
        if cache >= 0 { latestSlot[cache] = Int32(slot + 1) }
        aggregates[slot].add(input.reading, at: time)
    }

    /// Asks for the memory of a series' latest segments ahead of adding to them. Mutating only
    /// so a lane calls it on its builder in place: a copy retains and releases every array.
    mutating func prefetch(subscription: Int, meter: Int) {
        latestSlot.withUnsafeBufferPointer { latest in
            guard let base = latest.baseAddress else { return }
            tollbooth_prefetch(base + (subscription * meters.meters.count + meter) * SegmentBuilder.cachedGroups)
        }
    }

    /// The group id of a meter's group-by value text.
    mutating func group(_ value: String, meter: Int) -> Int32 {
        let slots = meters.groupSlots[meter]
        guard !slots.isEmpty else { return 0 }
        if let id = groupIDs[meter][value] { return id }
        let id = intern(slots.count == 1 ? "\(meters.groupNames[meter][0])=\(value)" : value)
        groupIDs[meter][value] = id
        return id
    }

    mutating func intern(_ text: String) -> Int32 {
        if let id = groupByText[text] { return id }
        let id = Int32(groups.count)
        groups.append(text)
        groupByText[text] = id
        return id
    }

    /// Each text's place among them in byte order.
    static func ranks(_ texts: [String]) -> [Int32] {
        var ranks = [Int32](repeating: 0, count: texts.count)
        let order = texts.indices.sorted { texts[$0].utf8.lexicographicallyPrecedes(texts[$1].utf8) }
        for (rank, index) in order.enumerated() { ranks[index] = Int32(rank) }
        return ranks
    }

    /// The pieces of the subscriptions in `range`, merged from several builders (of the same
    /// subscriptions and meters), in key order.
    static func pieces(of builders: [SegmentBuilder], subscriptions range: Range<Int32>, subscriptionIds: [String]) -> [SegmentPiece] {
        guard let first = builders.first else { return [] }
        // Only absorbed into, never added to: no latest-window slots needed.
        var merged = SegmentBuilder(meters: first.meters, subscriptions: 0)
        for builder in builders { merged.absorb(builder, subscriptions: range) }
        return merged.pieces(subscriptionIds: subscriptionIds)
    }

    /// Adds another builder's segments of the subscriptions in `range` to these.
    mutating func absorb(_ other: SegmentBuilder, subscriptions range: Range<Int32>) {
        for (slot, key) in other.keys.enumerated() where range.contains(key.subscription) {
            var translated = key
            if key.group != 0 { translated.group = intern(other.groups[Int(key.group)]) }
            if let found = index[translated] {
                aggregates[found].merge(other.aggregates[slot])
            } else {
                index[translated] = keys.count
                keys.append(translated)
                aggregates.append(other.aggregates[slot])
            }
        }
    }

    /// The pieces in key order (subscriptions are numbered in id order), ready to append.
    func pieces(subscriptionIds: [String]) -> [SegmentPiece] {
        // Meters and group texts by their places in byte order: the sort compares integers.
        let meterRank = SegmentBuilder.ranks(meters.meters.map(\.slug)), groupRank = SegmentBuilder.ranks(groups)
        let order = keys.indices.sorted {
            let a = keys[$0], b = keys[$1]
            return (a.subscription, meterRank[Int(a.meter)], a.window, groupRank[Int(a.group)])
                < (b.subscription, meterRank[Int(b.meter)], b.window, groupRank[Int(b.group)])
        }
        return order.map { slot in
            let key = keys[slot], aggregate = aggregates[slot]
            let latest = aggregate.latest
            return SegmentPiece(subscriptionId: subscriptionIds[Int(key.subscription)], meterSlug: meters.meters[Int(key.meter)].slug,
                                windowStart: Instant(seconds: key.window), groupKey: groups[Int(key.group)], count: aggregate.count,
                                sum: aggregate.sum.description, min: aggregate.min?.description ?? "0", max: aggregate.max?.description ?? "0",
                                latestTime: latest?.time ?? Instant(seconds: key.window), latestValue: latest?.value.description ?? "0",
                                uniqueValues: aggregate.distinct.sorted())
        }
    }
}

extension MeterSet {
    /// What a meter groups an event by: with one group-by, the value's text; with several,
    /// `groupKey`; without, empty.
    func groupValue(of values: [DataValue?], meter index: Int) -> String {
        let slots = groupSlots[index]
        if slots.isEmpty { return "" }
        return slots.count == 1 ? (values[slots[0]]?.keyText ?? "") : groupKey(of: values, meter: index)
    }

    /// The group-by values of an event for a meter as one text: "model=large&region=eu", names
    /// sorted; an absent value is empty.
    func groupKey(of values: [DataValue?], meter index: Int) -> String {
        let slots = groupSlots[index]
        guard !slots.isEmpty else { return "" }
        return zip(groupNames[index], slots).map { name, slot in "\(name)=\(values[slot]?.keyText ?? "")" }.joined(separator: "&")
    }
}

/// Whole lines of input: the bytes and each line's range (without its newline).
struct LineChunk: @unchecked Sendable {
    /// Keeps `bytes` alive; shared by the chunks cut from one buffer.
    let storage: InputBuffer
    let bytes: UnsafeRawBufferPointer
    var lines: [Range<Int>]

    var lineCount: Int { lines.count }

    func text(line index: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lines[index]]), as: UTF8.self)
    }

    /// Splits bytes into chunks of at most `maxLines` lines.
    static func split(_ input: [UInt8], maxLines: Int) -> [LineChunk] {
        let storage = InputBuffer(capacity: input.count)
        input.withUnsafeBytes { storage.memory.copyMemory(from: $0) }
        let all = UnsafeRawBufferPointer(storage.memory)
        var ranges: [Range<Int>] = []
        var start = 0
        for (index, byte) in all.enumerated() where byte == 0x0A {
            ranges.append(start..<index)
            start = index + 1
        }
        if start < all.count { ranges.append(start..<all.count) }
        var chunks: [LineChunk] = []
        var from = 0
        while from < ranges.count {
            let to = min(ranges.count, from + maxLines)
            let offset = ranges[from].lowerBound
            let end = ranges[to - 1].upperBound
            chunks.append(LineChunk(storage: storage, bytes: UnsafeRawBufferPointer(rebasing: all[offset..<end]),
                                    lines: ranges[from..<to].map { ($0.lowerBound - offset)..<($0.upperBound - offset) }))
            from = to
        }
        return chunks
    }
}

/// A block of memory input is read into, freed when the last chunk that uses it is done.
final class InputBuffer: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        memory = .allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    deinit { memory.deallocate() }
}

/// Reads a file descriptor into large buffers and hands out chunks of whole lines: each chunk
/// is the whole lines of one buffer (at most `maxLines`); the partial line at its end starts the
/// next buffer. A line longer than a buffer gets a buffer twice the size.
struct LineChunkReader {
    let descriptor: Int32
    let block: Int
    /// The start of a line not yet handed out, to carry into the next buffer.
    var carry: (storage: InputBuffer, range: Range<Int>)?
    var finished = false

    /// Reads into buffers of `block` bytes (16 MiB by default).
    init(descriptor: Int32, block: Int = 16 << 20) {
        self.descriptor = descriptor
        self.block = max(block, 1)
    }

    mutating func next(maxLines: Int) throws -> LineChunk? {
        var size = block
        while true {
            let carried = carry?.range.count ?? 0
            if carried >= size { size *= 2 }
            let storage = InputBuffer(capacity: max(size, carried + 1))
            var filled = 0
            if let carry {
                storage.memory.baseAddress!.copyMemory(from: carry.storage.memory.baseAddress! + carry.range.lowerBound, byteCount: carried)
                filled = carried
            }
            carry = nil
            // Fill the buffer (a pipe hands out little at a time) or reach the end of input.
            while filled < storage.memory.count, !finished {
                let read = Foundation.read(descriptor, storage.memory.baseAddress! + filled, storage.memory.count - filled)
                if read < 0 {
                    if errno == EINTR { continue }
                    throw CocoaError(.fileReadUnknown)
                }
                if read == 0 { finished = true }
                filled += read
            }
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage.memory)[0..<filled])
            var lines: [Range<Int>] = []
            var lineStart = 0
            if let base = bytes.baseAddress {
                while lineStart < filled, lines.count < maxLines,
                      let hit = memchr(base + lineStart, 0x0A, filled - lineStart) {
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    lines.append(lineStart..<index)
                    lineStart = index + 1
                }
            }
            if finished, lineStart < filled, lines.count < maxLines {
                lines.append(lineStart..<filled)
                lineStart = filled
            }
            if lineStart < filled { carry = (storage, lineStart..<filled) }
            if !lines.isEmpty {
                return LineChunk(storage: storage, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<lineStart]), lines: lines)
            }
            if finished, carry == nil { return nil }
            // No whole line in a full buffer: read on into a larger one.
            size = filled * 2
        }
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

    /// True when the value has been delivered, waiting at most `milliseconds` for it.
    func isReady(withinMillis milliseconds: Int) -> Bool {
        guard ready.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return false }
        ready.signal()
        return true
    }
}

/// A value the reader thread changes between calls.
final class Box<Value> {
    var value: Value

    init(_ value: Value) { self.value = value }
}

/// Hands values that are only ever used by one thread at a time to another thread.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
}
