import Billing
import Foundation

/// Transactions over a store's repositories. Whatever a write depends on is read after its
/// transaction has begun; nested transactions are savepoints.
public protocol Transactions: AnyObject {
    /// Where the data lives, for messages and for a lock file beside it.
    var path: String { get }
    /// Runs `body` in one write transaction.
    func transaction<T>(_ body: () throws -> T) throws -> T
    /// Runs `body` in one read transaction: a consistent view that takes no write lock.
    func readTransaction<T>(_ body: () throws -> T) throws -> T
    /// Opens a write transaction that its caller ends with `commitWrite` or `rollbackWrite`:
    /// for work that spans calls (the ingest's commit groups).
    func beginWrite() throws
    func commitWrite() throws
    func rollbackWrite()
    /// A large page cache, for a connection that writes much at once (the ingest).
    func useLargeCache() throws
    /// Commits that do not wait for the disk: for a caller that syncs the log itself before it
    /// answers (the server's group commits).
    func commitWithoutSync() throws
    /// The file such a caller syncs (SQLite's write-ahead log); nil where every commit is
    /// durable by itself.
    var logToSync: String? { get }
    /// Brings the query planner's statistics up to date for tables much changed since it last
    /// looked (PostgreSQL, between the stages of a bill run: a stage writes a table from empty
    /// to 100,000 rows faster than autovacuum looks, and the next stage's reads would be
    /// planned for an empty table). Nothing where the planner keeps none.
    func refreshStatistics() throws
    /// Another connection to the same data, for a worker on another thread.
    func openConnection() throws -> any Store
    /// Takes the bill-run lock for as long as the returned lock lives: a second bill run or
    /// re-run on the same data, from any process, is refused with `RunLockedError` naming
    /// `holder`. A process that dies releases it.
    func runLock(holder: String) throws -> any RunLock
}

/// The bill-run lock, held until released (by its deinit, or by the death of its process).
public protocol RunLock: AnyObject {}

/// Another bill run holds the lock: exit status 75 (EX_TEMPFAIL), so cron retries later.
public struct RunLockedError: Error, CustomStringConvertible, Sendable {
    public let holder: String
    public init(holder: String) { self.holder = holder }
    public var description: String { "another bill run holds the lock (\(holder)); try again when it has finished" }
}

/// Everything Tollbooth stores, reached through its repositories and a transaction.
/// `SQLiteStore` implements it, and `MemoryStore` in memory for tests; Pipeline, Metering, Reports
/// and Server depend only on this.
public protocol Store: CatalogRepository, CustomerRepository, SubscriptionRepository, UsageRepository,
    InvoiceRepository, LedgerRepository, IssuingRepository, ReconciliationRepository, ReportRepository,
    StripeInboxRepository, SubscriptionRequestRepository, CredentialRepository, ChangeTracking, Transactions {}
