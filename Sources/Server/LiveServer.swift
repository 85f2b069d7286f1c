import Billing
import Dispatch
import Foundation
import HTTPTypes
import Logging
import Metering
import Pipeline
import Store

/// "Now" for the server: the system clock, or a replayed instant (`--at`) moving on from
/// when the server started.
struct ServerClock: Sendable {
    let start: Instant?
    let started = ContinuousClock.now

    func now() -> Instant {
        guard let start else { return .systemNow }
        return Instant(seconds: start.seconds + (ContinuousClock.now - started).components.seconds)
    }
}

/// Work submitted from any thread and done in groups on the store's queue: the first item to
/// find the queue idle waits `delayMillis` for others to join it; items that come while a group
/// is handled form the next group, handled as soon as that one is done, without another delay.
final class Grouping<Item>: @unchecked Sendable {
    let queue: DispatchQueue
    let delayMillis: Int
    /// Handles a group, on the store's queue.
    let handle: ([Item]) -> Void
    private let lock = NSLock()
    private var pending: [Item] = []
    private var scheduled = false

    init(queue: DispatchQueue, delayMillis: Int, handle: @escaping ([Item]) -> Void) {
        self.queue = queue
        self.delayMillis = delayMillis
        self.handle = handle
    }

    func submit(_ item: Item) {
        let schedule = lock.withLock {
            pending.append(item)
            defer { scheduled = true }
            return !scheduled
        }
        guard schedule else { return }
        if delayMillis > 0 {
            queue.asyncAfter(deadline: .now() + .milliseconds(delayMillis)) { self.flush() }
        } else {
            queue.async { self.flush() }
        }
    }

    private func flush() {
        let group = lock.withLock {
            defer { pending = [] }
            return pending
        }
        defer {
            let more = lock.withLock {
                if pending.isEmpty { scheduled = false }
                return !pending.isEmpty
            }
            if more { queue.async { self.flush() } }
        }
        if !group.isEmpty { handle(group) }
    }
}

/// Groups the events of concurrent requests into one transaction: each request gets its own
/// accounting once the transaction holding its events has committed. The first request to
/// find the store idle waits `server.eventsCommitMillis` for others to join it; requests that
/// come while a group commits form the next group, committed as soon as that one is done.
final class GroupCommitter: @unchecked Sendable {
    let worker: StoreWorker
    let ingestor: Ingestor
    let delayMillis: Int
    let clock: ServerClock
    /// Makes each commit durable before its requests are answered.
    let durability: WALSync
    /// Runs on the store's queue right after a commit, before any request is answered.
    let afterCommit: @Sendable (_ pieces: [SegmentPiece], _ events: Int) -> Void
    typealias Submitted = (lines: [UInt8], settle: @Sendable (IngestSummary?) -> Void, done: @Sendable (Result<IngestSummary, any Error>) -> Void)
    private var groups: Grouping<Submitted>!
    init(worker: StoreWorker, ingestor: Ingestor, delayMillis: Int, clock: ServerClock, durability: WALSync,
         afterCommit: @escaping @Sendable (_ pieces: [SegmentPiece], _ events: Int) -> Void) {
        self.worker = worker
        self.durability = durability
        self.ingestor = ingestor
        self.delayMillis = delayMillis
        self.clock = clock
        self.afterCommit = afterCommit
        groups = Grouping(queue: worker.queue, delayMillis: delayMillis) { [unowned self] in commit($0) }
    }

    /// Stores NDJSON lines with the next group; `done` gets their accounting once committed.
    /// `settle` runs on the store's queue right after the group committed (its summary) or
    /// failed (nil), before anything queued after the commit reads the store.
    func submit(_ lines: [UInt8], settle: @escaping @Sendable (IngestSummary?) -> Void = { _ in },
                done: @escaping @Sendable (Result<IngestSummary, any Error>) -> Void) {
        groups.submit((lines, settle, done))
    }

    func submit(_ lines: [UInt8], settle: @escaping @Sendable (IngestSummary?) -> Void = { _ in }) async throws -> IngestSummary {
        try await withCheckedThrowingContinuation { continuation in
            submit(lines, settle: settle) { continuation.resume(with: $0) }
        }
    }

    /// On the store's queue: commits a group in one transaction.
    private func commit(_ group: [Submitted]) {
        ingestor.advance(to: clock.now())
        do {
            let summaries = try ingestor.ingest(parts: group.map(\.lines), input: "http")
            afterCommit(ingestor.committedPieces, summaries.reduce(0) { $0 + $1.lines })
            for (item, summary) in zip(group, summaries) { item.settle(summary) }
            // Answered once durable; this queue goes on to the next group meanwhile.
            durability.sync { error in
                if let error {
                    let failure = StoreUnavailable(description: "the commit could not be synced to disk (\(error)); send again")
                    for item in group { item.done(.failure(failure)) }
                } else {
                    for (item, summary) in zip(group, summaries) { item.done(.success(summary)) }
                }
            }
        } catch {
            for item in group { item.settle(nil) }
            for item in group { item.done(.failure(error)) }
        }
    }

    var ownBatches: Set<Int64> { ingestor.ownBatches }
}

/// Why the server could not store what it was given (503: the client should retry).
struct StoreUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// The live half's state and work, apart from HTTP: credentials and checks decided in memory,
/// events and consuming checks committed in groups, other writers' changes watched.
public final class LiveServer: @unchecked Sendable {
    let worker: StoreWorker
    let state: AccessState
    let settings: Settings
    let clock: ServerClock
    let logger: Logger
    let events: GroupCommitter
    let consumption: GroupCommitter
    /// Where consuming checks are decided when the store is shared with other servers
    /// (PostgreSQL): in the database, by its usage counters. Nil on SQLite, whose one server
    /// decides them in memory.
    let shared: SharedConsumption?
    let metrics: ServerMetrics
    /// What the change watcher last saw (used on the store's queue only).
    private var lastDataVersion: Int64 = 0
    private var lastBatch: Int64 = 0

    public init(store: any Store, settings: Settings, start: Instant?, logger: Logger) throws {
        worker = StoreWorker(store: store)
        self.settings = settings
        clock = ServerClock(start: start)
        self.logger = logger
        let state = AccessState(snapshot: try AccessSnapshot.load(store), maxPaymentOverdueDays: settings.maxPaymentOverdueDays)
        self.state = state
        let now = clock.now()
        let eventIngestor = try Ingestor(store: store, now: now, dedupeRetention: settings.dedupeRetention)
        eventIngestor.keepsCommittedPieces = true
        eventIngestor.segmentTable = .log
        let consumptionIngestor = try Ingestor(store: store, now: now, dedupeRetention: settings.dedupeRetention)
        consumptionIngestor.segmentTable = .log
        try eventIngestor.loadTodaysKeys()
        try consumptionIngestor.loadTodaysKeys()
        let metrics = ServerMetrics()
        self.metrics = metrics
        let durability = WALSync(log: store.logToSync)
        events = GroupCommitter(worker: worker, ingestor: eventIngestor, delayMillis: settings.server.eventsCommitMillis, clock: clock,
                                durability: durability) { pieces, lines in
            state.add(pieces)
            metrics.committed(events: lines)
        }
        // Consuming checks reserve their units when decided: what they store is counted already.
        // A gateway waits on each one, so a group commits as soon as the store is free: the
        // checks that come while one commits share the next.
        consumption = GroupCommitter(worker: worker, ingestor: consumptionIngestor,
                                     delayMillis: 0, clock: clock, durability: durability) { _, lines in
            metrics.committed(events: lines)
        }
        if let counters = store as? any SharedUsageCounters {
            shared = SharedConsumption(worker: worker, counters: counters, ingestor: consumptionIngestor, state: state, clock: clock,
                                       metrics: metrics)
        } else {
            shared = nil
        }
        lastDataVersion = try store.dataVersion()
        lastBatch = try store.lastIngestBatch()
    }

    func now() -> Instant { clock.now() }

    /// The meter behind a feature, if it is metered.
    func meter(feature: String) -> Meter? {
        let catalog = state.current.catalog
        return catalog.feature(key: feature)?.meterSlug.flatMap(catalog.meter(slug:))
    }

    // MARK: Events

    /// Stores a request's events (NDJSON lines) with the next group commit.
    func ingest(lines: [[UInt8]]) async throws -> IngestSummary {
        var data: [UInt8] = []
        data.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            data.append(contentsOf: line)
            data.append(0x0A)
        }
        let summary: IngestSummary
        do { summary = try await events.submit(data) } catch {
            throw StoreUnavailable(description: "the events could not be stored: \(error); send them again")
        }
        metrics.events(summary)
        return summary
    }

    // MARK: Credentials

    /// The route's scope from `Authorization: Bearer tbt_...`: none, unknown or revoked is 401,
    /// another scope 403. An admin token may call every route.
    func authorize(_ headers: HTTPFields, _ scope: TokenScope) throws {
        try authorize(authorization: headers[.authorization], scope)
    }

    /// Checks an `Authorization` value's service token against `scope`; `digest` is the
    /// token's digest when the caller already knows it (a connection sends the same one).
    func authorize(authorization header: String?, digest known: String? = nil, _ scope: TokenScope) throws {
        guard let header, header.hasPrefix("Bearer ") else {
            throw Problem(.unauthorized, "Unauthorized", "send a service token: Authorization: Bearer tbt_...")
        }
        guard let digest = known ?? Self.bearerSecret(header).map(Credentials.digest), let token = state.token(digest: digest) else {
            throw Problem(.unauthorized, "Unauthorized", "the service token is unknown or revoked")
        }
        guard token.scope == scope || token.scope == .admin else {
            throw Problem(.forbidden, "Forbidden", "this route needs a token of scope \(scope.rawValue); this one has \(token.scope.rawValue)")
        }
    }

    /// The secret of an `Authorization: Bearer <secret>` value; nil when it is not one.
    static func bearerSecret(_ header: String) -> String? {
        guard header.hasPrefix("Bearer ") else { return nil }
        let secret = header.utf8.dropFirst(7).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        return secret.count == 1 ? String(decoding: secret[0], as: UTF8.self) : nil
    }

    // MARK: Checks

    /// Decides a check that needs nothing from the store: not consuming, its usage period's
    /// count already in memory. Nil when it must go through `check`.
    func checkWithoutWaiting(_ request: CheckRequest) -> CheckAnswer? {
        guard !request.consume else { return nil }
        switch state.resolve(request, at: clock.now()) {
        case .failure(let denial):
            return CheckAnswer(facts: CheckFacts(feature: request.feature), denial: denial)
        case .success(let resolved):
            // Nil when the usage period's count is not in memory yet.
            return state.decide(resolved, request: request)
        }
    }

    /// Decides a check: fresh from memory, counting usage first read from the store when a
    /// usage period is first asked about. A consuming check that is allowed is answered once its
    /// usage event is committed.
    func check(_ request: CheckRequest) async throws -> CheckAnswer {
        try await withCheckedThrowingContinuation { continuation in
            check(request) { continuation.resume(with: $0) }
        }
    }

    /// `check` for callers off Swift concurrency (the event loop's fast path): `done` gets the
    /// answer, on whichever thread decided it.
    func check(_ request: CheckRequest, done: @escaping @Sendable (Result<CheckAnswer, any Error>) -> Void) {
        let now = clock.now()
        switch state.resolve(request, at: now) {
        case .failure(let denial):
            done(.success(CheckAnswer(facts: CheckFacts(feature: request.feature), denial: denial)))
        case .success(let resolved):
            decide(request, resolved, at: now, done: done)
        }
    }

    private func decide(_ request: CheckRequest, _ resolved: ResolvedCheck, at now: Instant,
                        done: @escaping @Sendable (Result<CheckAnswer, any Error>) -> Void) {
        if request.consume, let shared, let key = resolved.usageKey, let meter = resolved.meter, meter.addsUp, resolved.entitlement != nil {
            let lines = ConsumedUsage.events(meter: meter, subject: resolved.subject, units: max(0, request.units),
                                             id: request.idempotencyKey ?? UUID().uuidString.lowercased(), at: now)
            return shared.submit(SharedConsumption.Check(resolved: resolved, request: request, meter: meter, key: key, lines: lines, done: done))
        }
        if let key = resolved.usageKey, state.used(key) == nil, let meter = resolved.meter {
            // Read and recorded in the store queue's order: a commit queued after the read adds
            // to what was read.
            worker.queue.async {
                do {
                    let stored = try self.worker.store.quantity(meter: meter, subscriptionId: key.subscriptionId, period: key.period)
                    self.state.load(key, stored: stored)
                } catch {
                    return done(.failure(error))
                }
                self.decide(request, resolved, at: now, done: done)
            }
            return
        }
        // Nil when the counts were forgotten meanwhile (another writer's usage): read again.
        guard let answer = state.decide(resolved, request: request) else { return decide(request, resolved, at: now, done: done) }
        guard request.consume, answer.allowed, let meter = resolved.meter ?? state.current.catalog.meter(for: resolved.card) else {
            return done(.success(answer))
        }
        let units = max(0, request.units)
        let lines = ConsumedUsage.events(meter: meter, subject: resolved.subject, units: units,
                                         id: request.idempotencyKey ?? UUID().uuidString.lowercased(), at: now)
        let state = self.state, key = resolved.usageKey
        // Settled on the store's queue at the commit, before a later read of the usage.
        consumption.submit(lines, settle: { summary in
            guard let key else { return }
            guard let summary else { return state.settle(key, units: units, stored: false) }
            // A repeated idempotency key was counted by the check that first sent it.
            let repeated = summary.accepted == 0 ? units : 0
            state.settle(key, units: units - repeated, stored: true)
            if repeated > 0 { state.settle(key, units: repeated, stored: false) }
        }, done: { result in
            switch result {
            case .success: done(.success(answer))
            case .failure(let error): done(.failure(StoreUnavailable(description: "the usage could not be stored: \(error); check again")))
            }
        })
    }

    // MARK: Watching other writers

    /// On the store's queue: reads what other connections committed since the last look and
    /// brings the state up to date. Cheap when nothing changed (`PRAGMA data_version`).
    func catchUp() throws {
        let store = worker.store
        let version = try store.dataVersion()
        guard version != lastDataVersion else { return }
        lastDataVersion = version
        let changed = try reloadChanged()
        if !changed.isEmpty {
            logger.info("reloaded what other writers changed", metadata: ["parts": "\(changed.map(\.rawValue).sorted())"])
        }
        let batches = try store.ingestBatches(after: lastBatch)
        if let newest = batches.last {
            lastBatch = newest
            let own = events.ownBatches.union(consumption.ownBatches).union(shared?.ownBatches ?? [])
            if batches.contains(where: { !own.contains($0) }) { state.forgetUsage() }
        }
    }

    /// On the store's queue: reloads the parts of the state whose change counters moved (a
    /// write of another connection, such as the server's Stripe side); returns them.
    @discardableResult
    func reloadChanged() throws -> Set<AccessSnapshot.Part> {
        let current = state.current
        let counters = try worker.store.changeCounters()
        let changed = Set(AccessSnapshot.Part.allCases.filter { counters[$0.rawValue] != current.counters[$0.rawValue] })
        if !changed.isEmpty { state.replace(try AccessSnapshot.load(worker.store, parts: changed, into: current)) }
        return changed
    }

    /// Watches the store every `interval` until cancelled, and folds the usage log into the
    /// segments every `foldEvery` watches.
    func watch(every interval: Duration = .milliseconds(200), foldEvery: Int = 5) async {
        var watches = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            watches += 1
            do {
                try await worker.run { _ in try self.catchUp() }
            } catch {
                logger.error("could not read other writers' changes", metadata: ["error": "\(error)"])
            }
            if watches % foldEvery == 0 { await foldUsageLog() }
        }
    }

    // MARK: The usage log

    /// Moves what the group commits appended to the usage log into the segments: in the
    /// background, at start and at the end, so the log stays small. A transaction folds at most
    /// `step` rows, so group commits go on between them. Readers count both, so a fold that
    /// fails (retried at the next one) loses and changes nothing.
    func foldUsageLog(step: Int = 250) async {
        do {
            while true {
                let started = ContinuousClock.now
                let rows = try await worker.run { store in try store.foldUsageLog(limit: step) }
                guard rows > 0 else { break }
                metrics.folded(rows: rows, seconds: started.duration(to: .now))
                if rows < step { break }
            }
        } catch {
            logger.error("could not fold the usage log", metadata: ["error": "\(error)"])
        }
    }
}

/// The usage event a consuming check records: source `tollbooth-check`, the meter's event
/// type, the units as the meter's value (a COUNT meter gets one event per unit).
enum ConsumedUsage {
    /// The most units a consuming check records on a COUNT meter (an event each).
    static let maxCountedUnits: Decimal = 1_000

    static func events(meter: Meter, subject: String, units: Decimal, id: String, at now: Instant) -> [UInt8] {
        func event(_ id: String, data: String) -> String {
            "{\"specversion\":\"1.0\",\"id\":\(EventBody.jsonString(id)),\"source\":\"tollbooth-check\",\"type\":\(EventBody.jsonString(meter.eventType)),"
                + "\"subject\":\(EventBody.jsonString(subject)),\"time\":\"\(now.rfc3339)\",\"data\":\(data)}"
        }
        switch meter.aggregation {
        case .count:
            let count = max(1, NSDecimalNumber(decimal: units).intValue)
            let lines = count == 1 ? [event(id, data: "{}")] : (1...count).map { event("\(id)-\($0)", data: "{}") }
            return Array((lines.joined(separator: "\n") + "\n").utf8)
        case .sum, .max, .min, .avg, .latest, .uniqueCount:
            var data = units.plainString
            let path = (meter.valueProperty ?? "$.value").dropFirst(2).split(separator: ".").reversed()
            for name in path { data = "{\(EventBody.jsonString(String(name))):\(data)}" }
            return Array((event(id, data: data) + "\n").utf8)
        }
    }
}
