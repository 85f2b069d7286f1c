import Foundation
import Testing
@testable import Pipeline
import Store

/// The issue stage's workers: each queue is worked once, on a connection of the worker's own,
/// with no more workers than asked for; the first error stops the taking of queues and is thrown.
@Suite struct IssueWorkersTests {
    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var queues: [[String]] = []
        private var stores: Set<ObjectIdentifier> = []
        private var running = 0
        private(set) var mostAtOnce = 0

        func start(_ queue: [String], _ store: any Store) {
            lock.withLock {
                queues.append(queue)
                stores.insert(ObjectIdentifier(store))
                running += 1
                mostAtOnce = max(mostAtOnce, running)
            }
        }

        func end() { lock.withLock { running -= 1 } }

        var all: [[String]] { lock.withLock { queues } }
        var storeIds: Set<ObjectIdentifier> { lock.withLock { stores } }
    }

    @Test func everyQueueIsWorkedOnceByAtMostTheWorkersAskedFor() throws {
        let store = try sampleStore()
        let queues = (0..<12).map { ["inv_\($0)_a", "inv_\($0)_b"] }
        let seen = Seen()
        try IssueWorkers.run(queues, concurrency: 4, store: store) { worker, queue in
            seen.start(queue, worker)
            // Each worker writes through its own connection while the others do too.
            _ = try worker.invoiceTotals(status: .rated)
            Thread.sleep(forTimeInterval: 0.01)
            seen.end()
        }
        #expect(seen.all.sorted { $0[0] < $1[0] } == queues.sorted { $0[0] < $1[0] })
        #expect(seen.mostAtOnce <= 4)
        #expect(!seen.storeIds.contains(ObjectIdentifier(store)), "a connection of each worker's own, never the caller's")
        #expect((2...4).contains(seen.storeIds.count), "\(seen.storeIds.count) connections")
    }

    @Test(arguments: Backend.allCases) func oneWorkerUsesTheCallersStoreInOrder(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        let queues = [["a"], ["b"], ["c"]]
        let seen = Seen()
        try IssueWorkers.run(queues, concurrency: 1, store: store) { worker, queue in
            #expect(worker === store)
            seen.start(queue, worker)
            seen.end()
        }
        #expect(seen.all == queues)
    }

    /// A store in memory is no file another connection could open beside the caller's: its
    /// queues are worked on the caller's thread and store, in order, however many workers are asked for.
    @Test func aStoreInMemoryIsWorkedOnTheCallersThread() throws {
        let store = try sampleStore(.memory)
        let queues = [["a"], ["b"], ["c"]]
        let seen = Seen()
        let caller = Thread.current
        try IssueWorkers.run(queues, concurrency: 4, store: store) { worker, queue in
            #expect(worker === store)
            #expect(Thread.current == caller)
            seen.start(queue, worker)
            seen.end()
        }
        #expect(seen.all == queues)
    }

    struct Broken: Error {}

    @Test func theFirstErrorStopsTheTakingOfQueuesAndIsThrown() throws {
        let store = try sampleStore()
        let queues = (0..<50).map { ["q\($0)"] }
        let seen = Seen()
        #expect(throws: Broken.self) {
            try IssueWorkers.run(queues, concurrency: 2, store: store) { worker, queue in
                seen.start(queue, worker)
                seen.end()
                if queue == ["q0"] || queue == ["q1"] { throw Broken() }
            }
        }
        #expect(seen.all.count < queues.count, "\(seen.all.count) queues taken")
    }
}
