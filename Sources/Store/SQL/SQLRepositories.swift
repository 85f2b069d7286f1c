import Billing
import Foundation

/// The repositories written once in SQL both backends speak: `SQLiteStore` and `PostgresStore`
/// conform by giving their connection, and implement themselves only what differs (SQLite's
/// pragmas and data version, PostgreSQL's locks and `COPY`).
protocol SQLRepositories: Store, WorkSharing {
    var connection: any SQLConnection { get }
}

extension SQLRepositories {
    /// Runs `body` in one transaction.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try connection.transaction(immediate: true, body)
    }

    /// Runs `body` in one read transaction: a consistent view that takes no write lock.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try connection.transaction(immediate: false, body)
    }

    /// Opens a write transaction that its caller ends with `commitWrite` or `rollbackWrite`:
    /// for work that spans calls (the ingest's commit groups).
    public func beginWrite() throws { try connection.begin() }
    public func commitWrite() throws { try connection.commit() }
    public func rollbackWrite() { connection.rollback() }
}
