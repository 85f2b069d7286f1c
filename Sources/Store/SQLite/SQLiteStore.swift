import Billing
import Foundation

/// Tollbooth's SQLite store: one connection, the schema migrated on open, the repositories of
/// `SQLRepositories` over it, and what only SQLite has (its pragmas, its data version).
public final class SQLiteStore: SQLRepositories {
    /// The connection: SQL stays inside this module.
    let database: Database

    var connection: any SQLConnection { database }

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String) throws {
        database = try Database(path: path)
    }

    /// The database file's path (another connection to it, its lock files, its log).
    public var path: String { database.path }

    /// A 64 MiB page cache, for a connection that writes much at once (the ingest).
    public func useLargeCache() throws { try database.execute("PRAGMA cache_size = -65536") }

    /// Commits that do not wait for the disk: for a caller that syncs the write-ahead log itself
    /// before it answers (the server's group commits).
    public func commitWithoutSync() throws { try database.execute("PRAGMA synchronous = NORMAL") }

    /// SQLite's planner keeps no statistics unless asked (`ANALYZE`), and its plans here
    /// follow the indexes.
    public func refreshStatistics() throws {}

    /// The write-ahead log, which `commitWithoutSync`'s caller syncs.
    public var logToSync: String? { path + "-wal" }

    public func openConnection() throws -> any Store { try SQLiteStore(path: path) }

    public func runLock(holder: String) throws -> any RunLock { try FileRunLock(databasePath: path, holder: holder) }

    public func workerRunLock(holder: String) throws -> any RunLock { try FileRunLock(databasePath: path, holder: holder, shared: true) }

    public func stepLock(_ step: String, holder: String) throws -> (any RunLock)? {
        do { return try FileRunLock(databasePath: path, holder: holder, step: step) } catch is RunLockedError { return nil }
    }

    /// SQLite's writers take turns: a worker's transaction is an ordinary one.
    public func workerTransaction<T>(_ body: () throws -> T) throws -> T { try transaction(body) }

    public func claimWork(_ stage: Stage, owner: String, limit: Int, now: Instant, until: Instant, after: String?) throws -> [String] {
        try claimWork(stage, owner: owner, limit: limit, now: now, until: until, after: after, lockingClause: "")
    }

    /// SQLite's `data_version`: it moves when another connection commits.
    public func dataVersion() throws -> Int64 {
        try database.first("PRAGMA data_version")?.int(0) ?? 0
    }
}
