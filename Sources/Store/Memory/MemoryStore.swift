import Billing
import Foundation

/// Tollbooth's store held in memory: every repository of `Store` over one value (`MemoryState`),
/// with the semantics of `SQLiteStore` (the same orderings, refusals, derived ids and counters),
/// so the pipeline's tests can run where SQLite adds nothing. Not a product backend: nothing
/// outlives the process.
///
/// A transaction copies the state when it begins and puts the copy back when its body throws;
/// value semantics make the rollback exact, and nested transactions nest the same way. One lock
/// guards the state, so connections on several threads (`openConnection`) share one database and
/// each call, or each transaction, runs alone.
public final class MemoryStore: Store {
    /// The data, shared by every connection opened from the first.
    let shared: MemoryDatabase
    /// The states saved by this connection's open transactions, innermost last.
    private var saved: [MemoryState] = []
    /// Commits made through this connection: `dataVersion` moves with the others'.
    private var ownCommits: Int64 = 0

    /// An empty store: the schema's state before anything is imported.
    public convenience init() {
        self.init(shared: MemoryDatabase())
    }

    init(shared: MemoryDatabase) {
        self.shared = shared
    }

    /// A store in memory has no file: IssueWorkers then works on the caller's thread, and a run
    /// lock cannot be taken beside it.
    public var path: String { ":memory:" }

    // MARK: Transactions

    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try run(body)
    }

    /// A read transaction holds the same lock as a write one: there is no snapshot to read from
    /// while another connection writes, so readers wait their turn instead.
    public func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try run(body)
    }

    private func run<T>(_ body: () throws -> T) throws -> T {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        saved.append(shared.state)
        do {
            let result = try body()
            saved.removeLast()
            if saved.isEmpty { committed() }
            return result
        } catch {
            shared.state = saved.removeLast()
            throw error
        }
    }

    /// Holds the lock until `commitWrite` or `rollbackWrite`, as `BEGIN IMMEDIATE` holds SQLite's
    /// write lock; both must be called on the thread that began.
    public func beginWrite() throws {
        shared.lock.lock()
        saved.append(shared.state)
    }

    public func commitWrite() throws {
        guard !saved.isEmpty else { throw DatabaseError(code: 1, message: "cannot commit - no transaction is active", sql: nil) }
        saved.removeLast()
        if saved.isEmpty { committed() }
        shared.lock.unlock()
    }

    public func rollbackWrite() {
        guard !saved.isEmpty else { return }
        shared.state = saved.removeLast()
        shared.lock.unlock()
    }

    /// Nothing to do: there is no page cache in front of memory.
    public func useLargeCache() throws {}

    /// Nothing to do: there is no disk to wait for.
    public func commitWithoutSync() throws {}

    public func refreshStatistics() throws {}

    /// Another connection to the same data: it shares the state and the lock, and has its own
    /// transactions.
    public func openConnection() throws -> any Store { MemoryStore(shared: shared) }

    /// Nothing reaches a disk.
    public var logToSync: String? { nil }

    /// The lock of every connection to this data, held by one of them at a time.
    public func runLock(holder: String) throws -> any RunLock {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        if let current = shared.runLockHolder { throw RunLockedError(holder: current) }
        shared.runLockHolder = holder
        return MemoryRunLock(database: shared)
    }

    // MARK: What every repository reads and writes through

    /// Reads the state under the lock.
    func read<T>(_ body: (MemoryState) throws -> T) rethrows -> T {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        return try body(shared.state)
    }

    /// Changes the state under the lock, all or nothing: a call that throws leaves the state as
    /// it found it (as a failing statement, or a method SQLite wraps in a savepoint, does). Outside
    /// a transaction the change is committed at once.
    func write<T>(_ body: (inout MemoryState) throws -> T) throws -> T {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        let before = shared.state
        do {
            let result = try body(&shared.state)
            if saved.isEmpty { committed() }
            return result
        } catch {
            shared.state = before
            throw error
        }
    }

    private func committed() {
        shared.commits += 1
        ownCommits += 1
    }

    /// Moves when another connection commits, as SQLite's `data_version`; this connection's own
    /// commits leave it where it is.
    public func dataVersion() throws -> Int64 {
        read { _ in 1 + shared.commits - ownCommits }
    }
}

/// The state and lock every connection of one in-memory store shares.
final class MemoryDatabase: @unchecked Sendable {
    /// Recursive: a transaction's body calls the repositories, which take the lock again.
    let lock = NSRecursiveLock()
    var state = MemoryState()
    var commits: Int64 = 0
    var runLockHolder: String?
}

final class MemoryRunLock: RunLock {
    let database: MemoryDatabase

    init(database: MemoryDatabase) { self.database = database }

    deinit {
        database.lock.lock()
        database.runLockHolder = nil
        database.lock.unlock()
    }
}

// MARK: Values as SQLite stores them

extension Decimal {
    /// The decimal text SQLite stores for an amount.
    var stored: String { plainString }
}

extension String {
    /// An amount read back from its stored text, as `Row.decimal` reads it.
    var storedDecimal: Decimal? { Decimal(exactly: self) }

    /// SQLite's order for text (BINARY: byte by byte of UTF-8), which `ORDER BY` uses.
    func sqlPrecedes(_ other: String) -> Bool { utf8.lexicographicallyPrecedes(other.utf8) }
}

extension Currency {
    /// A currency read back from its stored code.
    var stored: Currency { Currency(code: code) ?? .usd }
}

/// The refusals SQLite's schema makes, with its result codes and messages.
enum Constraint {
    static func unique(_ columns: String) -> DatabaseError {
        DatabaseError(code: 2067, message: "UNIQUE constraint failed: \(columns)", sql: nil)
    }

    static func primaryKey(_ columns: String) -> DatabaseError {
        DatabaseError(code: 1555, message: "UNIQUE constraint failed: \(columns)", sql: nil)
    }

    static var foreignKey: DatabaseError { DatabaseError(code: 787, message: "FOREIGN KEY constraint failed", sql: nil) }

    static func check(_ expression: String) -> DatabaseError {
        DatabaseError(code: 275, message: "CHECK constraint failed: \(expression)", sql: nil)
    }

    /// Throws a foreign key failure unless the referenced row exists.
    static func reference(_ exists: Bool) throws {
        if !exists { throw foreignKey }
    }
}
