import Billing
import Foundation

/// Tollbooth's PostgreSQL store: one session, the schema migrated on open, and the repositories
/// of `SQLRepositories` over it. Several processes may share the database: writers take turns
/// (see `PostgresSession`), and `dataVersion` moves with every change another one commits.
public final class PostgresStore: SQLRepositories {
    let session: PostgresSession

    var connection: any SQLConnection { session }

    /// Connects to the database at `location` and migrates it (under an advisory lock, so
    /// several processes starting at once migrate it once).
    public init(_ location: PostgresLocation) throws {
        session = try PostgresSession(location)
        try PostgresSchema.migrate(session)
    }

    /// Connects to `postgres://USER:PASSWORD@HOST:PORT/DB`.
    public convenience init(url: String) throws {
        try self.init(try PostgresLocation(url: url))
    }

    /// The database's URL without its password.
    public var path: String { session.location.description }

    /// The server manages its own cache.
    public func useLargeCache() throws {}

    /// Every commit is durable: PostgreSQL's group commit already shares a flush among
    /// concurrent committers.
    public func commitWithoutSync() throws {}

    public var logToSync: String? { nil }

    /// Analyzes the tables whose changes since their last analysis are more than a tenth of
    /// their rows (autovacuum's own rule, applied now rather than within its next minute), and
    /// those of more than 64 kB never analyzed (a database just restored or copied, whose
    /// change counts start again from nothing).
    public func refreshStatistics() throws {
        let stale = try session.query("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
            WHERE n.nspname = current_schema() AND c.relkind = 'r'
              AND ((c.reltuples < 0 AND pg_relation_size(c.oid) > 65536)
                   OR (s.n_mod_since_analyze > 1000 AND s.n_mod_since_analyze > s.n_live_tup / 10))
            ORDER BY c.relname
            """, []).compactMap { $0.string(0) }
        for table in stale {
            try session.run("ANALYZE \"\(table.replacingOccurrences(of: "\"", with: "\"\""))\"", [])
        }
    }

    public func openConnection() throws -> any Store { try PostgresStore(session.location) }

    /// Moves whenever a change counter or the newest ingest batch does: everything a
    /// long-running reader reloads on (its own commits move it too).
    public func dataVersion() throws -> Int64 {
        try session.first("""
            SELECT ((SELECT coalesce(sum(value), 0) FROM change_counters) + (SELECT coalesce(max(id), 0) FROM ingest_batches))::bigint
            """, [])?.int(0) ?? 0
    }
}

extension PostgresStore {
    /// A session-level advisory lock on a session of its own, held while the lock lives; the
    /// server drops it with the session when the process dies. The session's `application_name`
    /// is the holder, which a refused run reads back.
    public func runLock(holder: String) throws -> any RunLock {
        try PostgresRunLock(session.location, key: PostgresRunLock.key, shared: false, holder: holder)
    }

    public func workerRunLock(holder: String) throws -> any RunLock {
        try PostgresRunLock(session.location, key: PostgresRunLock.key, shared: true, holder: holder)
    }

    public func stepLock(_ step: String, holder: String) throws -> (any RunLock)? {
        do {
            return try PostgresRunLock(session.location, key: PostgresRunLock.stepKey(step), shared: false, holder: holder)
        } catch is RunLockedError {
            return nil
        }
    }

    public func workerTransaction<T>(_ body: () throws -> T) throws -> T { try session.transaction(.workerWrite, body) }

    public func claimWork(_ stage: Stage, owner: String, limit: Int, now: Instant, until: Instant, after: String?) throws -> [String] {
        try claimWork(stage, owner: owner, limit: limit, now: now, until: until, after: after, lockingClause: " FOR UPDATE SKIP LOCKED")
    }
}

final class PostgresRunLock: RunLock {
    /// The bill run's lock ("tollrun" in ASCII).
    static let key: Int64 = 0x746f6c6c72756e
    let session: PostgresSession

    /// The lock of a step that runs once at a time: "toll" and the step's first four letters.
    static func stepKey(_ step: String) -> Int64 {
        Array(("toll" + step).utf8.prefix(8)).reduce(0) { $0 << 8 | Int64($1) }
    }

    init(_ location: PostgresLocation, key: Int64, shared: Bool, holder: String) throws {
        session = try PostgresSession(location)
        _ = try session.query("SELECT set_config('application_name', ?, false)", [.text(String(holder.utf8.prefix(63)) ?? "tollbooth")])
        let take = shared ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock"
        guard try session.first("SELECT \(take)(?)", [.integer(key)])?.int(0) == 1 else {
            let holder = try session.first("""
                SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = ? AND l.objid::bigint = ? AND l.objsubid = 1
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                LIMIT 1
                """, [.integer(key >> 32), .integer(key & 0xFFFF_FFFF)])?.string(0)
            throw RunLockedError(holder: holder.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown holder")
        }
    }
}

extension PostgresStore {
    /// Rows per INSERT of many (PostgreSQL takes up to 65,535 parameters a statement).
    static let rowsPerStatement = 500

    /// `writeSegments` as the shared SQL has it, in a few round trips rather than one per piece
    /// (each is a network round trip here, not a call into a library): the pieces'
    /// subscriptions' latest closes in one query, the pieces by `COPY` (a few by one INSERT),
    /// the unique values many to an INSERT. Lateness is decided as there: against the closes committed before this
    /// transaction. The usage counters of shared servers move with what is written.
    @discardableResult
    public func writeSegments(_ pieces: [SegmentPiece], batch: Int64, into table: SegmentTable) throws -> Int {
        try session.transaction {
            var closedThrough: [String: Int64] = [:]
            let subscriptions = Array(Set(pieces.map(\.subscriptionId))).sorted()
            for start in stride(from: 0, to: subscriptions.count, by: 1_000) {
                let chunk = subscriptions[start..<min(subscriptions.count, start + 1_000)]
                for row in try session.query("""
                    SELECT subscription_id, max(bill_date) FROM period_closes
                    WHERE subscription_id IN (\(Array(repeating: "?", count: chunk.count).joined(separator: ", "))) GROUP BY subscription_id
                    """, chunk.map { .text($0) }) {
                    closedThrough[row.string(0) ?? ""] = row.int(1)
                }
            }
            var late = 0
            let rows = pieces.map { piece -> [SQLValue] in
                let isLate = piece.windowStart.seconds < closedThrough[piece.subscriptionId] ?? Int64.min
                if isLate { late += 1 }
                return [.text(piece.subscriptionId), .text(piece.meterSlug), piece.windowStart.sql, .text(piece.groupKey), .integer(batch),
                        .integer(piece.count), .text(piece.sum), .text(piece.min), .text(piece.max), piece.latestTime.sql,
                        .text(piece.latestValue), .integer(isLate ? 1 : 0)]
            }
            let columns = ["subscription_id", "meter_slug", "window_start", "group_key", "batch_id", "count", "sum", "min", "max",
                           "latest_time", "latest_value", "late"]
            if rows.count > PostgresStore.rowsPerStatement {
                try session.copy(into: table.rawValue, columns: columns, rows: rows)
            } else if !rows.isEmpty {
                try session.run("""
                    INSERT INTO \(table.rawValue) (\(columns.joined(separator: ", ")))
                    VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows.count).joined(separator: ", "))
                    """, Array(rows.joined()))
            }
            let unique = pieces.flatMap { piece in
                piece.uniqueValues.map { [SQLValue.text(piece.subscriptionId), .text(piece.meterSlug), piece.windowStart.sql, .text($0)] }
            }
            for start in stride(from: 0, to: unique.count, by: PostgresStore.rowsPerStatement) {
                let chunk = unique[start..<min(unique.count, start + PostgresStore.rowsPerStatement)]
                try session.run("""
                    INSERT INTO usage_unique_values (subscription_id, meter_slug, window_start, value)
                    VALUES \(Array(repeating: "(?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")) ON CONFLICT DO NOTHING
                    """, Array(chunk.joined()))
            }
            try countUsage(pieces)
            return late
        }
    }
}
