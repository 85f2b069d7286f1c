import Billing
import Foundation

/// Tollbooth's SQLite store: one connection, the schema migrated on open, and every repository
/// (`Store`) implemented over it in this folder's extensions.
public final class SQLiteStore: Store {
    /// The connection: SQL stays inside this type.
    let database: Database

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String) throws {
        database = try Database(path: path)
    }

    /// The database file's path (another connection to it, its lock files, its log).
    public var path: String { database.path }

    /// Runs `body` in one transaction.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try database.transaction(body)
    }

    /// Runs `body` in one read transaction: a consistent view that takes no write lock.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try database.transaction(immediate: false, body)
    }

    /// Opens a write transaction that its caller ends with `commitWrite` or `rollbackWrite`:
    /// for work that spans calls (the ingest's commit groups).
    public func beginWrite() throws { try database.begin() }
    public func commitWrite() throws { try database.commit() }
    public func rollbackWrite() { database.rollback() }

    /// A 64 MiB page cache, for a connection that writes much at once (the ingest).
    public func useLargeCache() throws { try database.execute("PRAGMA cache_size = -65536") }

    /// Commits that do not wait for the disk: for a caller that syncs the write-ahead log itself
    /// before it answers (the server's group commits).
    public func commitWithoutSync() throws { try database.execute("PRAGMA synchronous = NORMAL") }

    public func openConnection() throws -> any Store { try SQLiteStore(path: path) }
}


extension Instant {
    var sql: SQLValue { .integer(seconds) }
}

extension Row {
    func instant(_ index: Int) -> Instant? { int(index).map { Instant(seconds: $0) } }
}

/// Short random identifiers with a readable prefix ("sub_3f9a1c2b7e4d").
enum Identifier {
    static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return prefix + "_" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
