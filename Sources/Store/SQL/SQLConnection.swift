import Billing
import Foundation

/// A connection the repositories' SQL runs on: SQLite's (`Database`) or PostgreSQL's
/// (`PostgresSession`). Statements take `?` placeholders (`?1`, `?2` to name one twice) and
/// values cross as `SQLValue`, so one text of SQL serves both wherever the dialects agree. Not
/// for use from two threads at once.
protocol SQLConnection: AnyObject {
    /// Every row of a query.
    func query(_ sql: String, _ values: [SQLValue]) throws -> [Row]
    /// The first row of a query, if any.
    func first(_ sql: String, _ values: [SQLValue]) throws -> Row?
    /// Runs a statement, returning the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue]) throws -> Int
    /// Runs an INSERT into a table keyed by an integer `id` the database assigns; returns it.
    func insertReturningId(_ sql: String, _ values: [SQLValue]) throws -> Int64
    /// Runs statements that take no parameters.
    func execute(_ sql: String) throws
    /// A statement to run many times with new values (prepared once and cached by its text
    /// where the backend can).
    func statement(_ sql: String) throws -> any SQLStatement
    /// Runs `body` in a transaction (a savepoint when nested): committed if it returns, rolled
    /// back if it throws. `immediate` takes the write lock at the start (SQLite's `BEGIN
    /// IMMEDIATE`); a read transaction passes false.
    func transaction<T>(immediate: Bool, _ body: () throws -> T) throws -> T
    /// A write transaction held across calls, ended by `commit` or `rollback`.
    func begin() throws
    func commit() throws
    func rollback()
    /// A text that may hold NUL characters (a quarantined input line), as this backend stores
    /// it whole: SQLite as text, PostgreSQL, whose text cannot hold NUL, as UTF-8 bytes in a
    /// BYTEA column. Read back with `Row.wholeText`.
    func wholeText(_ text: String) -> SQLValue
}

extension SQLConnection {
    func query(_ sql: String) throws -> [Row] { try query(sql, []) }
    func first(_ sql: String) throws -> Row? { try first(sql, []) }
    @discardableResult
    func run(_ sql: String) throws -> Int { try run(sql, []) }
    func transaction<T>(_ body: () throws -> T) throws -> T { try transaction(immediate: true, body) }
}

/// A prepared statement: bound, then run or read row by row.
protocol SQLStatement: AnyObject {
    /// Binds every parameter, in order.
    func bind(_ values: [SQLValue]) throws
    func bindText(_ value: String, at index: Int32) throws
    func bindInteger(_ value: Int64, at index: Int32) throws
    /// Binds a blob the statement may read in place until it has run and been reset.
    func bindBlob(borrowing bytes: UnsafeRawBufferPointer, at index: Int32) throws
    /// Runs a statement that returns no rows.
    func run() throws
    /// Runs it with the values bound; returns the rows changed.
    func step() throws -> Int
    /// The next row, or nil when done.
    func next() throws -> Row?
    /// Clears the bindings and any rows not read.
    func reset()
}

/// A store failure with the context needed to act on it: a code, the database's message and
/// the statement that failed. Codes are SQLite's; PostgreSQL's SQLSTATEs are mapped onto them.
public struct DatabaseError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        sql.map { "database error \(code): \(message) (in: \($0.prefix(120)))" } ?? "database error \(code): \(message)"
    }

    /// A constraint in the schema refused the write (unique key, foreign key, check).
    public var isConstraintViolation: Bool { code & 0xFF == DatabaseError.constraintCode }
    /// Another connection holds the write lock beyond the busy timeout.
    public var isBusy: Bool { code & 0xFF == DatabaseError.busyCode || code & 0xFF == DatabaseError.lockedCode }

    /// The database named does not exist (PostgreSQL's SQLSTATE 3D000 on connecting).
    public var isMissingDatabase: Bool { code == DatabaseError.missingDatabaseCode }

    /// The code of a database that does not exist: no SQLite code (SQLite makes its file).
    static let missingDatabaseCode: Int32 = 0x3D000
    /// The code of a write that lost to another (SQLite's `SQLITE_BUSY`; PostgreSQL's
    /// serialization failure, deadlock or lock not available).
    static let busyCode: Int32 = 5
    /// SQLite's `SQLITE_LOCKED`: a table locked within the same connection's transaction.
    static let lockedCode: Int32 = 6
    /// The code of a write a constraint refused (SQLite's `SQLITE_CONSTRAINT`; PostgreSQL's
    /// SQLSTATE class 23).
    static let constraintCode: Int32 = 19
}

/// A value bound to or read from a statement.
enum SQLValue: Hashable, Sendable {
    case null
    case integer(Int64)
    case text(String)
    case real(Double)
    case blob([UInt8])
}

extension SQLValue {
    init(_ value: String?) { self = value.map { .text($0) } ?? .null }
    init(_ value: Int64?) { self = value.map { .integer($0) } ?? .null }
    init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    init(_ value: Decimal?) { self = value.map { .text($0.plainString) } ?? .null }
}

/// One result row.
struct Row: Sendable {
    let values: [SQLValue]

    subscript(_ index: Int) -> SQLValue { values[index] }

    func int(_ index: Int) -> Int64? {
        if case .integer(let v) = values[index] { return v }
        return nil
    }

    func string(_ index: Int) -> String? {
        switch values[index] {
        case .text(let v): return v
        case .integer(let v): return String(v)
        case .null, .real, .blob: return nil
        }
    }

    /// A decimal stored as text (amounts are never stored as REAL).
    func decimal(_ index: Int) -> Decimal? { string(index).flatMap { Decimal(exactly: $0) } }

    func instant(_ index: Int) -> Instant? { int(index).map { Instant(seconds: $0) } }

    /// A text stored by `SQLConnection.wholeText`: text, or UTF-8 bytes.
    func wholeText(_ index: Int) -> String? {
        if case .blob(let bytes) = values[index] { return String(decoding: bytes, as: UTF8.self) }
        return string(index)
    }
}

extension Instant {
    var sql: SQLValue { .integer(seconds) }
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
