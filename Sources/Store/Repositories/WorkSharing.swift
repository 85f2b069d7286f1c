import Billing
import Foundation

/// A bill run shared by workers (`tollbooth run --worker`, started on one machine or many):
/// each stage's work is split by customer. A stage's customers with work left are listed once
/// (`offerWork`); a worker claims a batch no live lease holds, works it, and marks it done. A
/// claim lasts until its lease runs out; the worker renews its leases while it works, so one
/// that dies loses them and another worker takes its customers. The workers' own leases tell
/// how many are alive (they share Stripe's limits between them).
///
/// A claim only says who works on a customer now; what a worker writes is checked against the
/// ledger inside its transaction as before, so two workers that meet on a customer (a lease
/// run out under a stalled worker) still write each invoice once.
public protocol WorkSharing: AnyObject {
    /// Lists customers with work in `stage`; one listed already stays as it is.
    func offerWork(_ stage: Stage, customerKeys: [String]) throws
    /// Claims up to `limit` listed customers of `stage` that no lease holds at `now` (never
    /// claimed, or their lease ran out), until `until`, in key order from after `after` (nil:
    /// from the first); another worker's claim in progress is skipped, not waited for.
    func claimWork(_ stage: Stage, owner: String, limit: Int, now: Instant, until: Instant, after: String?) throws -> [String]
    /// Marks the owner's claimed customers done.
    func finishWork(_ stage: Stage, customerKeys: [String], owner: String) throws
    /// Customers of `stage` not yet done, claimed or not.
    func openWork(_ stage: Stage) throws -> Int
    /// Renews the worker's lease and its claims' until `until`; returns how many workers hold a
    /// lease at `now`, this one included.
    @discardableResult
    func renewLease(owner: String, now: Instant, until: Instant) throws -> Int
    /// Gives up the worker's lease and any claim it still holds.
    func endLease(owner: String) throws
    /// Takes a step that one worker of a shared run does for all (reconcile): true, and the
    /// step marked taken until `until`, unless a worker took it and its mark has not run out.
    func takeStep(_ step: String, now: Instant, until: Instant) throws -> Bool
    /// Records a worker's run in the job ledger, under the worker's name. Unlike a plain run's
    /// start, it leaves the runs of workers alive (holding a lease at `leasesAt`, wall-clock
    /// time) marked running; any other run marked running died, and is marked abandoned
    /// (`abandoned` tells how many).
    func startWorkerRun(asOf: Instant, owner: String, at now: Instant, leasesAt: Instant, abandoned: inout Int) throws -> Int64
    /// A write transaction for work on customers the caller has claimed: it runs beside other
    /// workers' and waits only for ordinary write transactions (PostgreSQL); SQLite's writers
    /// take turns anyway.
    func workerTransaction<T>(_ body: () throws -> T) throws -> T
    /// The bill-run lock as workers hold it, in common: refused (`RunLockedError`) while a
    /// plain run holds it, and a plain run is refused while any worker holds it.
    func workerRunLock(holder: String) throws -> any RunLock
    /// The lock of a step that must run once at a time (reconcile, say): nil when another
    /// process holds it.
    func stepLock(_ step: String, holder: String) throws -> (any RunLock)?
}

extension WorkSharing {
    /// Claims from the first listed customer.
    public func claimWork(_ stage: Stage, owner: String, limit: Int, now: Instant, until: Instant) throws -> [String] {
        try claimWork(stage, owner: owner, limit: limit, now: now, until: until, after: nil)
    }
}
