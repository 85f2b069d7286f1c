import Foundation
import Store

/// Runs the issue stage's queues (one per customer) on `concurrency` threads, so several
/// invoices are in flight at Stripe at once while the pacing keeps them under its limits. A
/// SQLite connection belongs to one thread, so each worker opens its own on the same database
/// file (WAL: readers never wait, each small write waits its turn under the busy timeout); one
/// worker, or a database that is not a file, uses the caller's store on the caller's thread.
enum IssueWorkers {
    static func run(_ queues: [[String]], concurrency: Int, store: any Store, _ work: @escaping (any Store, [String]) throws -> Void) throws {
        let path = store.path
        let threads = min(max(1, concurrency), queues.count)
        guard threads > 1, !path.isEmpty, path != ":memory:" else {
            for queue in queues { try work(store, queue) }
            return
        }
        let shared = SharedQueues(queues)
        let job = Job(work, origin: store)
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let own = try job.origin.openConnection()
                    while let queue = shared.next() { try job.work(own, queue) }
                } catch {
                    shared.fail(error)
                }
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        group.wait()
        if let error = shared.error { throw error }
    }
}

/// The work of a worker thread. What it captures (the bill run, the client, the tally) is
/// shared on purpose: each is safe across threads or only read. Of `origin` the workers only
/// open connections of their own.
private final class Job: @unchecked Sendable {
    let work: (any Store, [String]) throws -> Void
    let origin: any Store
    init(_ work: @escaping (any Store, [String]) throws -> Void, origin: any Store) {
        self.work = work
        self.origin = origin
    }
}

/// The queues not yet taken, and the first error a worker met (which stops the others taking more).
private final class SharedQueues: @unchecked Sendable {
    private let lock = NSLock()
    private var queues: ArraySlice<[String]>
    private(set) var firstError: Error?

    init(_ queues: [[String]]) { self.queues = queues[...] }

    func next() -> [String]? {
        lock.withLock { firstError == nil ? queues.popFirst() : nil }
    }

    func fail(_ error: Error) {
        lock.withLock { if firstError == nil { firstError = error } }
    }

    var error: Error? { lock.withLock { firstError } }
}

/// What the issue stage's workers did, counted under one lock. Errors are reported in the order
/// the invoices were queued, whichever worker finished first.
final class IssueTally: @unchecked Sendable {
    private let lock = NSLock()
    private var issued = 0, failed = 0, skipped = 0, done = 0
    private var failures: [String: String] = [:]
    private var stop: String?

    var stopped: Bool { lock.withLock { stop != nil } }

    func issue() { lock.withLock { issued += 1; done += 1 } }

    func skip() { lock.withLock { skipped += 1; done += 1 } }

    func fail(_ id: String, _ message: String, stops: Bool) {
        lock.withLock {
            failed += 1
            done += 1
            failures[id] = message
            if stops, stop == nil { stop = message }
        }
    }

    /// The count of invoices handled when it has just reached a multiple of 100.
    var hundredth: Int? {
        lock.withLock { done > 0 && done % 100 == 0 ? done : nil }
    }

    func result(inOrder ids: [String]) -> (issued: Int, failed: Int, skipped: Int, errors: [String], stop: String?) {
        lock.withLock {
            let errors = ids.compactMap { id in failures[id].map { "\(id): \($0)" } }
            return (issued, failed, skipped, errors, stop)
        }
    }
}
