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
    /// Another connection to the same data, for a worker on another thread.
    func openConnection() throws -> any Store
}

/// Everything Tollbooth stores, reached through its repositories and a transaction.
/// `SQLiteStore` implements it, and `MemoryStore` in memory for tests; Pipeline, Metering, Reports
/// and Server depend only on this.
public protocol Store: CatalogRepository, CustomerRepository, SubscriptionRepository, UsageRepository,
    InvoiceRepository, LedgerRepository, IssuingRepository, ReconciliationRepository, ReportRepository,
    StripeInboxRepository, SubscriptionRequestRepository, CredentialRepository, ChangeTracking, Transactions {}
