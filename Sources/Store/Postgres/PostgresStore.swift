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

    public func openConnection() throws -> any Store { try PostgresStore(session.location) }

    /// Moves whenever a change counter or the newest ingest batch does: everything a
    /// long-running reader reloads on (its own commits move it too).
    public func dataVersion() throws -> Int64 {
        try session.first("""
            SELECT (SELECT coalesce(sum(value), 0) FROM change_counters) + (SELECT coalesce(max(id), 0) FROM ingest_batches)
            """, [])?.int(0) ?? 0
    }
}
