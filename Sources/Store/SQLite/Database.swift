internal import CSQLite
import Billing
import Foundation

/// One SQLite connection: WAL mode, foreign keys on, a busy timeout, prepared statements cached
/// by SQL text. Not thread-safe: one connection per thread.
final class Database: SQLConnection {
    let handle: OpaquePointer
    public let path: String
    private var cache: [String: Statement] = [:]
    private var transactionDepth = 0

    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    public init(path: String, migrate: Bool = true) throws {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw DatabaseError(code: status, message: "\(message): \(path)", sql: nil)
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, 10_000)
        // Before anything is written: a database from a newer schema is left untouched.
        if migrate { try Schema.checkVersion(self) }
        try execute("PRAGMA journal_mode = WAL")
        try execute("PRAGMA synchronous = NORMAL")
        try execute("PRAGMA foreign_keys = ON")
        if migrate { try Schema.migrate(self) }
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ code: Int32, _ sql: String?) -> DatabaseError {
        DatabaseError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements that take no parameters.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if status != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw DatabaseError(code: sqlite3_extended_errcode(handle), message: text, sql: sql)
        }
    }

    /// A prepared statement for `sql`, reused across calls.
    public func prepare(_ sql: String) throws -> Statement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status, sql) }
        let prepared = Statement(database: self, handle: statement, sql: sql)
        cache[sql] = prepared
        return prepared
    }

    /// Runs a statement with parameters, returning the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ values: [SQLValue] = []) throws -> Int {
        let statement = try prepare(sql)
        try statement.bind(values)
        try statement.run()
        return Int(sqlite3_changes(handle))
    }

    /// Every row of a query.
    public func query(_ sql: String, _ values: [SQLValue] = []) throws -> [Row] {
        let statement = try prepare(sql)
        try statement.bind(values)
        var rows: [Row] = []
        while let row = try statement.next() { rows.append(row) }
        return rows
    }

    /// The first row of a query, if any.
    public func first(_ sql: String, _ values: [SQLValue] = []) throws -> Row? {
        let statement = try prepare(sql)
        try statement.bind(values)
        defer { statement.reset() }
        return try statement.next()
    }

    /// Runs `body` in a transaction (a savepoint when nested): committed if it returns,
    /// rolled back if it throws.
    public func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        let name = "tb\(transactionDepth)"
        if transactionDepth == 0 {
            try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
        } else {
            try execute("SAVEPOINT \(name)")
        }
        transactionDepth += 1
        do {
            let result = try body()
            transactionDepth -= 1
            try execute(transactionDepth == 0 ? "COMMIT" : "RELEASE \(name)")
            return result
        } catch {
            transactionDepth -= 1
            if transactionDepth == 0 {
                try? execute("ROLLBACK")
            } else {
                try? execute("ROLLBACK TO \(name); RELEASE \(name)")
            }
            throw error
        }
    }

    /// Opens a write transaction held across calls (`commit` or `rollback` ends it), for work
    /// that streams through many calls; `transaction` is the usual way.
    public func begin() throws {
        try execute("BEGIN IMMEDIATE")
        transactionDepth += 1
    }

    public func commit() throws {
        try execute("COMMIT")
        transactionDepth -= 1
    }

    public func rollback() {
        try? execute("ROLLBACK")
        transactionDepth -= 1
    }

    public func statement(_ sql: String) throws -> any SQLStatement { try prepare(sql) }

    /// Text as it is: SQLite's text holds NUL characters (bound and read by length).
    public func wholeText(_ text: String) -> SQLValue { .text(text) }

    public func insertReturningId(_ sql: String, _ values: [SQLValue]) throws -> Int64 {
        try run(sql, values)
        return lastInsertRowID
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// Copies the database into a new file (`VACUUM INTO`), consistent while others write.
    public func backup(to path: String) throws {
        try run("VACUUM INTO ?", [.text(path)])
    }
}

/// A prepared statement. Columns are read by index from the current row.
final class Statement: SQLStatement {
    unowned let database: Database
    let handle: OpaquePointer
    let sql: String

    init(database: Database, handle: OpaquePointer, sql: String) {
        self.database = database
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    public func bind(_ values: [SQLValue]) throws {
        reset()
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    public func bind(_ value: SQLValue, at index: Int32) throws {
        let status: Int32
        switch value {
        case .null: status = sqlite3_bind_null(handle, index)
        case .integer(let v): status = sqlite3_bind_int64(handle, index, v)
        case .real(let v): status = sqlite3_bind_double(handle, index, v)
        case .text(let v):
            // Bound with its length, so a NUL inside the text is stored like any other character.
            try bindText(v, at: index)
            return
        case .blob(let v): status = v.withUnsafeBytes {
            sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), tollbooth_sqlite_transient())
        }
        }
        guard status == SQLITE_OK else { throw database.error(status, sql) }
    }

    /// Binds a text parameter straight from UTF-8 bytes, with no String in between.
    public func bindText(_ bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        let status = sqlite3_bind_text(handle, index, bytes.baseAddress?.assumingMemoryBound(to: CChar.self),
                                       Int32(bytes.count), tollbooth_sqlite_transient())
        guard status == SQLITE_OK else { throw database.error(status, sql) }
    }

    public func bindText(_ value: String, at index: Int32) throws {
        // The string's own UTF-8 bytes, with their length: no C string is built on the way.
        var value = value
        let status = value.withUTF8 { bytes in
            UnsafeRawBufferPointer(bytes).withMemoryRebound(to: CChar.self) { text in
                // An empty string still binds as text, not NULL: SQLite needs a non-null pointer.
                text.isEmpty ? sqlite3_bind_text(handle, index, "", 0, tollbooth_sqlite_transient())
                             : sqlite3_bind_text(handle, index, text.baseAddress, Int32(text.count), tollbooth_sqlite_transient())
            }
        }
        guard status == SQLITE_OK else { throw database.error(status, sql) }
    }

    /// Binds a blob without copying it: SQLite reads `bytes` when the statement runs, so they
    /// must stay valid until it has run and been reset.
    public func bindBlob(borrowing bytes: UnsafeRawBufferPointer, at index: Int32) throws {
        let status = sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), tollbooth_sqlite_static())
        guard status == SQLITE_OK else { throw database.error(status, sql) }
    }

    public func bindInteger(_ value: Int64, at index: Int32) throws {
        let status = sqlite3_bind_int64(handle, index, value)
        guard status == SQLITE_OK else { throw database.error(status, sql) }
    }

    /// Steps a statement that returns no rows.
    public func run() throws {
        let status = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard status == SQLITE_DONE || status == SQLITE_ROW else { throw database.error(status, sql) }
    }

    /// Runs the statement once more with new integer/text parameters already bound; returns rows changed.
    public func step() throws -> Int {
        let status = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard status == SQLITE_DONE || status == SQLITE_ROW else { throw database.error(status, sql) }
        return Int(sqlite3_changes(database.handle))
    }

    /// The next row, or nil when done.
    public func next() throws -> Row? {
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW:
            let count = sqlite3_column_count(handle)
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for index in 0..<count { values.append(column(index)) }
            return Row(values: values)
        case SQLITE_DONE:
            sqlite3_reset(handle)
            return nil
        default:
            sqlite3_reset(handle)
            throw database.error(status, sql)
        }
    }

    func column(_ index: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, index))
        case SQLITE_TEXT:
            // Read by its length: text may hold NUL characters.
            let count = Int(sqlite3_column_bytes(handle, index))
            guard count > 0, let pointer = sqlite3_column_text(handle, index) else { return .text("") }
            return .text(String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, index))
            guard count > 0, let pointer = sqlite3_column_blob(handle, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }
}
