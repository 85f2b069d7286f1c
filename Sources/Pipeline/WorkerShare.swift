import Billing
import Foundation
import Logging
import Store

/// One bill-run worker's part in a run that several share (`tollbooth run --worker`): its name,
/// its lease, and the loop that claims customers a batch at a time. While it lives a thread of
/// its own renews the lease on a connection of its own every third of `leaseSeconds`, and tells
/// `livingWorkers` how many workers hold a lease (Stripe's limits are shared between them).
public final class WorkerShare: @unchecked Sendable {
    let sharing: any WorkSharing
    public let owner: String
    let leaseSeconds: Int
    /// Customers per claim.
    let batch: Int
    let logger: Logger
    let livingWorkers: @Sendable (Int) -> Void
    private let renewal: any WorkSharing
    private let stopped = NSCondition()
    private var isStopped = false
    private var renewer: Thread?

    /// `store` must share work (SQLite and PostgreSQL do); `renewal` is another connection to
    /// the same data, for the renewing thread.
    public init(store: any Store, renewal: any Store, owner: String, leaseSeconds: Int, batch: Int = 500, logger: Logger,
                livingWorkers: @escaping @Sendable (Int) -> Void = { _ in }) throws {
        guard let sharing = store as? any WorkSharing, let renewing = renewal as? any WorkSharing else {
            throw WorkerShareError(description: "\(store.path) cannot share a bill run between workers")
        }
        self.sharing = sharing
        self.renewal = renewing
        self.owner = owner
        self.leaseSeconds = leaseSeconds
        self.batch = batch
        self.logger = logger
        self.livingWorkers = livingWorkers
    }

    /// Wall-clock time: leases are compared between processes, whatever time a run replays.
    static func now() -> Instant { .systemNow }

    var leaseEnd: Instant { WorkerShare.now() + Int64(leaseSeconds) }

    /// Takes the lease and starts renewing it.
    public func start() throws {
        livingWorkers(try sharing.renewLease(owner: owner, now: WorkerShare.now(), until: leaseEnd))
        let thread = Thread { [self] in
            while true {
                let stop = stopped.withLock { () -> Bool in
                    if !isStopped { _ = stopped.wait(until: Date().addingTimeInterval(Double(leaseSeconds) / 3)) }
                    return isStopped
                }
                if stop { return }
                do {
                    livingWorkers(try renewal.renewLease(owner: owner, now: WorkerShare.now(), until: leaseEnd))
                } catch {
                    logger.error("could not renew the worker's lease", metadata: ["worker": "\(owner)", "error": "\(error)"])
                }
            }
        }
        renewer = thread
        thread.start()
    }

    /// Stops renewing and gives the lease up.
    public func stop() {
        stopped.withLock {
            isStopped = true
            stopped.broadcast()
        }
        try? sharing.endLease(owner: owner)
    }

    /// Works `stage` a claimed batch of customers at a time: `customers` (those this worker
    /// found with work) are listed for every worker, and the loop ends when the stage has none
    /// left, claimed or not. A batch another worker holds is waited for: it is finished, or
    /// its lease runs out and it is claimed here.
    func share(_ stage: Stage, customers: [String], _ work: ([String]) throws -> Void) throws {
        try sharing.offerWork(stage, customerKeys: customers)
        // Claims go on in key order from the last; at the end they start again from the first,
        // for customers whose lease ran out behind.
        var last: String?
        while true {
            let claimed = try sharing.claimWork(stage, owner: owner, limit: batch, now: WorkerShare.now(), until: leaseEnd, after: last)
            if claimed.isEmpty {
                if last != nil {
                    last = nil
                    continue
                }
                guard try sharing.openWork(stage) > 0 else { return }
                Thread.sleep(forTimeInterval: 0.2)
                continue
            }
            last = claimed.last
            try work(claimed)
            try sharing.finishWork(stage, customerKeys: claimed, owner: owner)
        }
    }
}

public struct WorkerShareError: Error, CustomStringConvertible {
    public let description: String
}
