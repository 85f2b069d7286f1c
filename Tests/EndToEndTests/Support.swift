import Foundation
import Testing
import TestSupport

/// What one run of the `tollbooth` executable did.
struct Outcome: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// Standard output without its final newline.
    var output: String { stdout.hasSuffix("\n") ? String(stdout.dropLast()) : stdout }
}

/// A fresh working folder and database per test, and the built `tollbooth` binary run in it.
struct CLI {
    let folder: URL
    let backend: Backend
    /// `--db`: the SQLite file in the folder, or a new database on the tests' PostgreSQL server.
    let database: String

    init(_ backend: Backend = .sqlite) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.backend = backend
        switch backend {
        case .sqlite: database = folder.appendingPathComponent("tollbooth.db").path
        case .postgres: database = try PostgresServer.shared().makeDatabase()
        }
    }

    /// Runs `tollbooth arguments...` in the test's folder with `$TOLLBOOTH_DB` pointing at its
    /// database. Output goes to files, not pipes, so a large output cannot block the child.
    @discardableResult
    func run(_ arguments: String..., environment: [String: String] = [:]) throws -> Outcome {
        try run(arguments, environment: environment)
    }

    func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> Outcome {
        let binary = try #require(CLI.binary, "no built tollbooth executable: run `swift build --build-tests` first (or set TOLLBOOTH_BIN)")
        let out = folder.appendingPathComponent("stdout-\(UUID().uuidString)")
        let err = folder.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        defer { try? outHandle.close(); try? errHandle.close() }

        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = folder
        var env = ProcessInfo.processInfo.environment
        env["TOLLBOOTH_DB"] = database
        // A PostgreSQL database has no file to keep the Stripe secrets beside.
        if backend == .postgres { env["TOLLBOOTH_SECRETS"] = secretsPath }
        env.removeValue(forKey: "TOLLBOOTH_STRIPE_KEY")
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = outHandle
        process.standardError = errHandle
        if let input {
            let url = folder.appendingPathComponent("stdin-\(UUID().uuidString)")
            try Data(input.utf8).write(to: url)
            process.standardInput = try FileHandle(forReadingFrom: url)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.spawn()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    /// Writes a file into the test's folder and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// The catalog and customer fixtures, imported.
    func importFixtures() throws {
        let catalog = try run("catalog", "import", fixture("catalogs/sample.json"))
        #expect(catalog.status == 0, "\(catalog)")
        let customers = try run("customers", "import", fixture("customers.json"))
        #expect(customers.status == 0, "\(customers)")
    }

    /// A query's answer through the sqlite3 command-line tool (scripts/setup.sh installs it),
    /// trimmed.
    @discardableResult
    func sqlite(_ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database, sql]
        let out = Pipe()
        process.standardOutput = out
        try process.spawn()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A query's answer from the test's database, trimmed, on either backend: through sqlite3, or
    /// psql for PostgreSQL (rows on lines, columns joined by `|` in both). For the few facts no
    /// command shows; the SQL must mean the same in both dialects.
    @discardableResult
    func query(_ sql: String) throws -> String {
        switch backend {
        case .sqlite: return try sqlite(sql)
        case .postgres: return try PostgresServer.shared().query(sql, url: database)
        }
    }

    /// The database as the CLI names it in messages: a PostgreSQL URL without its password.
    var shownDatabase: String {
        backend == .sqlite ? database : database.replacingOccurrences(of: ":\(PostgresServer.password)@", with: "@")
    }

    /// Everything the database holds, to compare before and after: SQLite's file, byte for
    /// byte; on PostgreSQL every table's rows, each table's as a digest.
    func contents() throws -> [String] {
        switch backend {
        case .sqlite:
            return [try Data(contentsOf: URL(fileURLWithPath: database)).base64EncodedString()]
        case .postgres:
            return try lines(query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map { table in
                table + " " + (try query("SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"\(table)\" t"))
            }
        }
    }

    /// Where the CLI keeps the Stripe secrets: beside a SQLite database, or `$TOLLBOOTH_SECRETS`.
    var secretsPath: String {
        backend == .sqlite ? database + ".secrets.json" : folder.appendingPathComponent("secrets.json").path
    }

    /// The environment a process started outside `run` needs to reach the test's database.
    var databaseEnvironment: [String: String] {
        var env = ["TOLLBOOTH_DB": database]
        if backend == .postgres { env["TOLLBOOTH_SECRETS"] = secretsPath }
        return env
    }

    /// `subscriptions list --format json` at `at`, decoded.
    func subscriptions(at: String) throws -> [[String: Any]] {
        let list = try run("subscriptions", "list", "--format", "json", "--at", at)
        #expect(list.status == 0, "\(list)")
        return try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
    }

    /// The built `tollbooth` (`$TOLLBOOTH_BIN` overrides).
    static let binary: URL? = BuiltProducts.executable("tollbooth", override: "TOLLBOOTH_BIN")
}

/// The path of a file in Tests/Fixtures.
func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// The lines of a text, without the empty one after a final newline.
func lines(_ text: String) -> [String] {
    var result = text.components(separatedBy: "\n")
    if result.last == "" { result.removeLast() }
    return result
}

/// Polls `condition` every 50 ms for up to `seconds`: whether it came true.
func poll(for seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    repeat {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    } while Date() < deadline
    return try condition()
}
