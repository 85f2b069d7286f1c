import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// One PostgreSQL connection used from synchronous code: each statement waits for its answer.
/// Values cross as `SQLValue` (BIGINT, TEXT, BYTEA and NULL), so the repositories read rows the
/// same way from either backend. Transactions nest as savepoints. Not for use from two threads
/// at once: one session per thread, like a SQLite connection.
///
/// Writers take turns as SQLite's do: a write transaction holds the writer lock (a transaction
/// advisory lock) from its start, so a rule checked inside it ("one subscription at a time")
/// still holds when it commits, whichever process wrote in between. A read transaction is
/// `REPEATABLE READ`: one snapshot throughout, like SQLite's.
final class PostgresSession: SQLConnection {
    let location: PostgresLocation
    let connection: PostgresConnection
    let logger: Logger
    private var transactionDepth = 0

    init(_ location: PostgresLocation) throws {
        self.location = location
        var logger = Logger(label: "tollbooth.postgres")
        logger.logLevel = .critical
        self.logger = logger
        let configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: location.password, database: location.database, tls: .disable)
        do {
            connection = try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration,
                                                        id: 1, logger: logger).wait()
        } catch {
            throw DatabaseError(postgres: error, sql: nil, location: location)
        }
    }

    deinit {
        try? connection.close().wait()
    }

    /// Every row of a statement; `?` placeholders are bound in order (written `$1`, `$2`, ...).
    func query(_ sql: String, _ values: [SQLValue]) throws -> [Row] {
        try send(sql, values).rows.map { row in Row(values: try row.map { cell in try PostgresSession.value(cell) }) }
    }

    func first(_ sql: String, _ values: [SQLValue]) throws -> Row? { try query(sql, values).first }

    /// Runs a statement, returning the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue]) throws -> Int {
        try send(sql, values).metadata.rows ?? 0
    }

    private func send(_ sql: String, _ values: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .null: binds.appendNull()
            case .integer(let number): binds.append(number)
            case .text(let text):
                guard !text.utf8.contains(0) else {
                    throw DatabaseError(code: -1, message: "\(location): a text holds a NUL character, which PostgreSQL's text cannot store", sql: sql)
                }
                binds.append(text)
            case .real(let number): binds.append(number)
            case .blob(let bytes): binds.append(ByteBuffer(bytes: bytes))
            }
        }
        do {
            return try connection.query(PostgresQuery(unsafeSQL: PostgresSession.numberPlaceholders(sql), binds: binds), logger: logger).wait()
        } catch {
            throw DatabaseError(postgres: error, sql: sql, location: location)
        }
    }

    /// Runs statements that take no parameters, one after another (a migration's script).
    func execute(_ script: String) throws {
        for statement in PostgresSession.statements(script) { try run(statement) }
    }

    /// A script's statements: split at each `;` that ends a line, except inside a `$$` body.
    static func statements(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            current += line + "\n"
            if !inBody, line.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }

    /// The advisory lock every write transaction holds ("writes" in ASCII).
    static let writerLock: Int64 = 0x777269746573

    /// Runs `body` in a transaction (a savepoint when nested): committed if it returns, rolled
    /// back if it throws.
    func transaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        try transaction(immediate ? .write : .read, body)
    }

    /// How a transaction begins: a writer holds the writer lock alone; a bill-run worker holds
    /// it in common with other workers (each writes only the customers it claimed), so workers
    /// write side by side and any other writer waits for them all; a reader takes no lock.
    enum Mode {
        case write, workerWrite, read
    }

    func transaction<T>(_ mode: Mode, _ body: () throws -> T) throws -> T {
        let savepoint = "s\(transactionDepth)"
        if transactionDepth == 0 {
            try open(mode)
        } else {
            try run("SAVEPOINT \(savepoint)")
        }
        transactionDepth += 1
        do {
            let result = try body()
            transactionDepth -= 1
            try run(transactionDepth == 0 ? "COMMIT" : "RELEASE SAVEPOINT \(savepoint)")
            return result
        } catch {
            transactionDepth -= 1
            if transactionDepth == 0 {
                _ = try? run("ROLLBACK")
            } else {
                _ = try? run("ROLLBACK TO SAVEPOINT \(savepoint)")
                _ = try? run("RELEASE SAVEPOINT \(savepoint)")
            }
            throw error
        }
    }

    private func open(_ mode: Mode) throws {
        switch mode {
        case .write, .workerWrite:
            try run("BEGIN")
            do {
                let lock = mode == .write ? "pg_advisory_xact_lock" : "pg_advisory_xact_lock_shared"
                _ = try query("SELECT \(lock)(?)", [.integer(PostgresSession.writerLock)])
            } catch {
                _ = try? run("ROLLBACK")
                throw error
            }
        case .read:
            try run("BEGIN ISOLATION LEVEL REPEATABLE READ")
        }
    }

    /// Opens a write transaction held across calls, ended by `commit` or `rollback`.
    func begin() throws {
        try open(.write)
        transactionDepth += 1
    }

    func commit() throws {
        try run("COMMIT")
        transactionDepth -= 1
    }

    func rollback() {
        _ = try? run("ROLLBACK")
        transactionDepth -= 1
    }

    func insertReturningId(_ sql: String, _ values: [SQLValue]) throws -> Int64 {
        guard let id = try first(sql + " RETURNING id", values)?.int(0) else {
            throw DatabaseError(code: -1, message: "\(location): the insert returned no id", sql: sql)
        }
        return id
    }

    func statement(_ sql: String) throws -> any SQLStatement { PostgresStatement(session: self, sql: sql) }

    /// UTF-8 bytes, for a BYTEA column: PostgreSQL's text cannot hold NUL.
    func wholeText(_ text: String) -> SQLValue { .blob(Array(text.utf8)) }

    /// `?` placeholders as PostgreSQL's `$1`, `$2`, ..., numbered as SQLite numbers them: `?N`
    /// is the Nth value, and a bare `?` the one after the highest numbered so far. A `?` inside
    /// a quoted string or identifier is left alone.
    static func numberPlaceholders(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var highest = 0
        var quote: Character?
        var characters = sql[...]
        while let character = characters.popFirst() {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                let digits = characters.prefix { $0.isASCII && $0.isNumber }
                characters = characters.dropFirst(digits.count)
                let number = Int(digits) ?? highest + 1
                highest = max(highest, number)
                result += "$\(number)"
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// A cell as the repositories read it: integers of any width as `.integer`, BYTEA as
    /// `.blob`, NUMERIC and everything textual as `.text`.
    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(buffer: try cell.decode(ByteBuffer.self)))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .numeric:
            // An aggregate of integers (`sum` of a BIGINT column) is NUMERIC: whole, it is read
            // as the integer SQLite would give.
            let text = try cell.decode(Decimal.self).plainString
            return Int64(text).map { .integer($0) } ?? .text(text)
        default: return .text(try cell.decode(String.self))
        }
    }
}

extension DatabaseError {
    /// A PostgreSQL failure in the store's terms, its text free of the password.
    init(postgres error: any Error, sql: String?, location: PostgresLocation) {
        if let psql = error as? PSQLError {
            let server = psql.serverInfo
            let message = server?[.message] ?? psql.underlying.map { "\(psql.code): \($0)" } ?? "\(psql.code)"
            let state = server?[.sqlState] ?? ""
            let code = state.hasPrefix("23") ? DatabaseError.constraintCode
                : ["40001", "40P01", "55P03"].contains(state) ? DatabaseError.busyCode
                : state == "3D000" ? DatabaseError.missingDatabaseCode : -1
            self.init(code: code,
                      message: "\(location): \(message)\(state.isEmpty ? "" : " (SQLSTATE \(state))")", sql: sql)
        } else {
            self.init(code: -1, message: "\(location): \(error)", sql: sql)
        }
    }
}

/// A statement of a `PostgresSession`: its values are kept as bound and sent when it runs (the
/// server prepares it again each time; the repositories' SQL is the same for both backends).
final class PostgresStatement: SQLStatement {
    private let session: PostgresSession
    private let sql: String
    private var values: [SQLValue] = []
    private var rows: [Row]?
    private var read = 0

    init(session: PostgresSession, sql: String) {
        self.session = session
        self.sql = sql
    }

    func bind(_ values: [SQLValue]) throws {
        reset()
        self.values = values
    }

    private func set(_ value: SQLValue, at index: Int32) {
        let position = Int(index) - 1
        if values.count <= position { values += Array(repeating: .null, count: position + 1 - values.count) }
        values[position] = value
    }

    func bindText(_ value: String, at index: Int32) throws { set(.text(value), at: index) }
    func bindInteger(_ value: Int64, at index: Int32) throws { set(.integer(value), at: index) }
    func bindBlob(borrowing bytes: UnsafeRawBufferPointer, at index: Int32) throws { set(.blob(Array(bytes)), at: index) }

    func run() throws { _ = try step() }

    func step() throws -> Int {
        defer { rows = nil }
        return try session.run(sql, values)
    }

    func next() throws -> Row? {
        if rows == nil {
            rows = try session.query(sql, values)
            read = 0
        }
        guard let rows, read < rows.count else {
            reset()
            return nil
        }
        read += 1
        return rows[read - 1]
    }

    func reset() {
        rows = nil
        read = 0
    }
}
