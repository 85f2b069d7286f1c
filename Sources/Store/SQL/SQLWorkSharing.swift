import Billing
import Foundation

extension SQLRepositories {
    // The work table's writes run beside other workers' transactions, as the claims do.

    public func offerWork(_ stage: Stage, customerKeys: [String]) throws {
        // Many rows to a statement: a stage lists every customer with work, 100,000 of them on a
        // large run, and each statement is a round trip to PostgreSQL.
        try workerTransaction {
            try forEachChunk(customerKeys) { _, values in
                let rows = (0..<values.count).map { "(?1, ?\($0 + 2))" }.joined(separator: ", ")
                try connection.run("INSERT INTO run_work (stage, customer_key) VALUES \(rows) ON CONFLICT DO NOTHING",
                                   [.text(stage.rawValue)] + values)
            }
        }
    }

    public func takeStep(_ step: String, now: Instant, until: Instant) throws -> Bool {
        // A step's mark is a lease of its own, named after it.
        let name = SQLValue.text("step " + step)
        return try workerTransaction {
            if let taken = try connection.first("SELECT lease_until FROM run_leases WHERE owner = ?", [name])?.int(0), taken > now.seconds {
                return false
            }
            try connection.run("INSERT INTO run_leases (owner, lease_until) VALUES (?1, ?2) ON CONFLICT (owner) DO UPDATE SET lease_until = ?2",
                               [name, until.sql])
            return true
        }
    }

    public func startWorkerRun(asOf: Instant, owner: String, at now: Instant, leasesAt: Instant, abandoned: inout Int) throws -> Int64 {
        // A plain run marked running is dead too: it would hold the bill-run lock alone.
        let dead = """
            SELECT id FROM job_runs WHERE status = 'running'
              AND (worker IS NULL OR worker NOT IN (SELECT owner FROM run_leases WHERE lease_until > ?2))
            """
        return try workerTransaction {
            try connection.run("UPDATE job_stages SET status = 'abandoned', finished_at = ?1 WHERE status = 'running' AND run_id IN (\(dead))",
                               [now.sql, leasesAt.sql])
            abandoned = try connection.run("UPDATE job_runs SET status = 'abandoned', finished_at = ?1 WHERE id IN (\(dead))",
                                           [now.sql, leasesAt.sql])
            return try connection.insertReturningId("INSERT INTO job_runs (as_of, started_at, status, dry_run, worker) VALUES (?, ?, 'running', 0, ?)",
                                                    [asOf.sql, now.sql, .text(owner)])
        }
    }

    public func finishWork(_ stage: Stage, customerKeys: [String], owner: String) throws {
        try workerTransaction {
            try forEachChunk(customerKeys) { list, values in
                try connection.run("DELETE FROM run_work WHERE stage = ? AND owner = ? AND customer_key IN \(list)",
                                   [.text(stage.rawValue), .text(owner)] + values)
            }
        }
    }

    public func openWork(_ stage: Stage) throws -> Int {
        Int(try connection.first("SELECT count(*) FROM run_work WHERE stage = ?", [.text(stage.rawValue)])?.int(0) ?? 0)
    }

    @discardableResult
    public func renewLease(owner: String, now: Instant, until: Instant) throws -> Int {
        try workerTransaction {
            try connection.run("""
                INSERT INTO run_leases (owner, lease_until) VALUES (?1, ?2) ON CONFLICT (owner) DO UPDATE SET lease_until = ?2
                """, [.text(owner), until.sql])
            try connection.run("UPDATE run_work SET lease_until = ? WHERE owner = ?", [until.sql, .text(owner)])
            // Leases long run out are forgotten.
            try connection.run("DELETE FROM run_leases WHERE lease_until < ?", [(now + -86_400).sql])
            return Int(try connection.first("SELECT count(*) FROM run_leases WHERE lease_until > ? AND owner NOT LIKE 'step %'",
                                            [now.sql])?.int(0) ?? 1)
        }
    }

    public func endLease(owner: String) throws {
        try workerTransaction {
            try connection.run("UPDATE run_work SET owner = NULL, lease_until = NULL WHERE owner = ?", [.text(owner)])
            try connection.run("DELETE FROM run_leases WHERE owner = ?", [.text(owner)])
        }
    }

    /// `body` for the keys a chunk at a time: an `IN (...)` list of `?` and its values.
    func forEachChunk(_ keys: [String], _ body: (String, [SQLValue]) throws -> Void) throws {
        for start in stride(from: 0, to: keys.count, by: Self.keysPerQuery) {
            let chunk = keys[start..<min(keys.count, start + Self.keysPerQuery)]
            try body("(" + Array(repeating: "?", count: chunk.count).joined(separator: ", ") + ")", chunk.map { .text($0) })
        }
    }

    /// The claim, with `lockingClause` after the rows it picks (PostgreSQL's `FOR UPDATE SKIP
    /// LOCKED`; SQLite has one writer at a time and needs none).
    func claimWork(_ stage: Stage, owner: String, limit: Int, now: Instant, until: Instant, after: String?,
                   lockingClause: String) throws -> [String] {
        try workerTransaction {
            // The batch is picked, and its rows locked, by one statement and claimed by another
            // with its keys listed: the index serves both whatever the planner believes of the
            // table's size (a stage's list is written at its start, so its statistics are
            // always stale). Claims go on from the last one (`after`): the customers done before
            // it are rows deleted, which a scan from the first would walk past on every claim
            // until the table is vacuumed.
            let picked = try connection.query("""
                SELECT customer_key FROM run_work WHERE stage = ?1 AND customer_key > ?2 AND (owner IS NULL OR lease_until <= ?3)
                ORDER BY customer_key LIMIT ?4\(lockingClause)
                """, [.text(stage.rawValue), .text(after ?? ""), now.sql, .integer(Int64(limit))]).compactMap { $0.string(0) }
            try forEachChunk(picked) { list, values in
                try connection.run("UPDATE run_work SET owner = ?, lease_until = ? WHERE stage = ? AND customer_key IN \(list)",
                                   [.text(owner), until.sql, .text(stage.rawValue)] + values)
            }
            return picked
        }
    }
}
