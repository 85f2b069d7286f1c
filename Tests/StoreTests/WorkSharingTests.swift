import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

/// The work table and locks that bill-run workers share a run by, on both backends.
@Suite struct WorkSharingTests {
    let t0 = Instant(seconds: 1_800_000_000)

    @Test(arguments: Backend.allCases) func workersHoldTheRunLockTogetherAndAPlainRunAlone(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let other = try store.openConnection() as! any WorkSharing
        var first: (any RunLock)? = try store.workerRunLock(holder: "workers of the bill run as of 2026-05-01T00:00:00Z")
        // A second worker joins; a plain run is refused and told who holds the lock.
        var second: (any RunLock)? = try other.workerRunLock(holder: "workers of the bill run as of 2026-05-01T00:00:00Z")
        #expect(throws: RunLockedError.self) { try store.openConnection().runLock(holder: "plain") }
        withExtendedLifetime(first) {}
        first = nil
        do {
            _ = try store.openConnection().runLock(holder: "plain")
            Issue.record("a plain run was let in beside a worker")
        } catch let error as RunLockedError {
            #expect(error.holder.hasPrefix("workers of the bill run as of 2026-05-01T00:00:00Z"), "\(error.holder)")
        }
        withExtendedLifetime(second) {}
        second = nil
        // With every worker gone a plain run gets it, and a worker is refused while it lasts.
        var plain: (any RunLock)? = try store.runLock(holder: "bill run as of 2026-05-01T00:00:00Z")
        do {
            _ = try other.workerRunLock(holder: "worker")
            Issue.record("a worker was let in beside a plain run")
        } catch let error as RunLockedError {
            #expect(error.holder.hasPrefix("bill run as of 2026-05-01T00:00:00Z"))
        }
        withExtendedLifetime(plain) {}
        plain = nil
        // A step lock is held by one at a time: the second asker gets nil.
        var step = try store.stepLock("reconcile", holder: "a")
        #expect(step != nil)
        #expect(try other.stepLock("reconcile", holder: "b") == nil)
        withExtendedLifetime(step) {}
        step = nil
        #expect(try other.stepLock("reconcile", holder: "b") != nil)
    }

    @Test(arguments: Backend.allCases) func claimsSplitTheCustomersAndALapsedLeaseIsTakenOver(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let other = try store.openConnection() as! any WorkSharing
        let customers = (1...5).map { "c\($0)" }
        try store.offerWork(.rate, customerKeys: customers)
        try other.offerWork(.rate, customerKeys: ["c3", "c4", "c5", "c6"])
        #expect(try store.openWork(.rate) == 6)
        #expect(try store.renewLease(owner: "a", now: t0, until: t0 + 60) == 1)
        #expect(try other.renewLease(owner: "b", now: t0, until: t0 + 60) == 2)
        // Two at a time, in key order; what one holds the other does not get.
        #expect(try store.claimWork(.rate, owner: "a", limit: 2, now: t0, until: t0 + 60) == ["c1", "c2"])
        #expect(try other.claimWork(.rate, owner: "b", limit: 2, now: t0, until: t0 + 60) == ["c3", "c4"])
        #expect(try store.claimWork(.tax, owner: "a", limit: 2, now: t0, until: t0 + 60) == [], "another stage's list")
        try store.finishWork(.rate, customerKeys: ["c1", "c2"], owner: "a")
        #expect(try store.openWork(.rate) == 4)
        // b stops renewing: once its lease has run out, a takes its customers.
        #expect(try store.claimWork(.rate, owner: "a", limit: 10, now: t0 + 30, until: t0 + 90) == ["c5", "c6"])
        #expect(try store.renewLease(owner: "a", now: t0 + 61, until: t0 + 121) == 1, "b's lease ran out")
        #expect(try store.claimWork(.rate, owner: "a", limit: 10, now: t0 + 61, until: t0 + 121) == ["c3", "c4"])
        // b's late finish of what it lost removes nothing of a's.
        try other.finishWork(.rate, customerKeys: ["c3", "c4"], owner: "b")
        #expect(try store.openWork(.rate) == 4)
        try store.finishWork(.rate, customerKeys: ["c3", "c4", "c5", "c6"], owner: "a")
        #expect(try store.openWork(.rate) == 0)
        // A step is taken once until its mark runs out.
        #expect(try store.takeStep("reconcile", now: t0, until: t0 + 3_600))
        #expect(try !other.takeStep("reconcile", now: t0 + 10, until: t0 + 3_610))
        #expect(try other.takeStep("reconcile", now: t0 + 3_600, until: t0 + 7_200))
        #expect(try store.renewLease(owner: "a", now: t0 + 3_600, until: t0 + 3_660) == 1, "a step's mark is no worker")
    }

    @Test(arguments: Backend.allCases) func claimsGoOnAfterTheLastAndOfferingManyListsEachOnce(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        // More customers than one statement lists, offered twice over.
        let customers = (1...700).map { String(format: "c%04d", $0) }
        try store.offerWork(.tax, customerKeys: customers)
        try store.offerWork(.tax, customerKeys: Array(customers[600...]))
        #expect(try store.openWork(.tax) == 700)
        try store.renewLease(owner: "a", now: t0, until: t0 + 60)
        #expect(try store.claimWork(.tax, owner: "a", limit: 3, now: t0, until: t0 + 60, after: "c0500") == ["c0501", "c0502", "c0503"])
        #expect(try store.claimWork(.tax, owner: "a", limit: 3, now: t0, until: t0 + 60, after: "c0698") == ["c0699", "c0700"])
        #expect(try store.claimWork(.tax, owner: "a", limit: 2, now: t0, until: t0 + 60, after: "c0700") == [], "nothing after the last")
        #expect(try store.claimWork(.tax, owner: "a", limit: 2, now: t0, until: t0 + 60, after: nil) == ["c0001", "c0002"])
        // What a holds is skipped from anywhere.
        #expect(try store.claimWork(.tax, owner: "b", limit: 2, now: t0, until: t0 + 60, after: "c0499") == ["c0500", "c0504"])
    }

    @Test(arguments: Backend.allCases) func aWorkerMarksAbandonedTheRunsOfTheDeadAndLeavesItsFellowsRunning(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let asOf = Instant(seconds: 1_780_000_000)
        var abandoned = -1
        // A plain run that died, then worker a: the plain run is abandoned (it would hold the lock alone).
        let plain = try store.startRun(asOf: asOf, dryRun: false, at: asOf)
        try store.renewLease(owner: "a", now: t0, until: t0 + 60)
        let a = try store.startWorkerRun(asOf: asOf, owner: "a", at: asOf, leasesAt: t0, abandoned: &abandoned)
        #expect(abandoned == 1)
        // b joins while a lives: a's run stays running.
        try store.renewLease(owner: "b", now: t0 + 10, until: t0 + 120)
        let b = try store.startWorkerRun(asOf: asOf, owner: "b", at: asOf, leasesAt: t0 + 10, abandoned: &abandoned)
        #expect(abandoned == 0)
        // a dies (its lease runs out); c, starting later, abandons a's run and leaves b's.
        try store.renewLease(owner: "c", now: t0 + 61, until: t0 + 121)
        let c = try store.startWorkerRun(asOf: asOf, owner: "c", at: asOf, leasesAt: t0 + 61, abandoned: &abandoned)
        #expect(abandoned == 1)
        let connection = (store as! any SQLRepositories).connection
        func status(_ run: Int64) throws -> String? {
            try connection.first("SELECT status FROM job_runs WHERE id = ?", [.integer(run)])?.string(0)
        }
        #expect(try [plain, a, b, c].map(status) == ["abandoned", "abandoned", "running", "running"])
    }
}
