import Foundation

/// The backends the store and end-to-end tests run on: a SQLite file, or a database on the
/// tests' PostgreSQL server.
public enum Backend: String, CaseIterable, Sendable {
    case sqlite, postgres
}

/// A PostgreSQL server of Debian's packages for the tests: `initdb` and `pg_ctl` in a temporary
/// folder, listening on a free loopback port, password authentication over TCP. Started once per
/// test process on first use and stopped when the process exits; each test makes a database of
/// its own (`makeDatabase`). As root (CI, a container) the server runs as the `postgres` user
/// the package made, since PostgreSQL refuses to run as root.
public final class PostgresServer: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static let user = "tollbooth"
    public static let password = "tollbooth-test-password"

    public let port: Int
    let folder: URL
    let bin: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var started: Result<PostgresServer, any Error>?

    /// The server of this test process, started on first use.
    public static func shared() throws -> PostgresServer {
        try lock.withLock {
            if let started { return try started.get() }
            let result = Result { try PostgresServer() }
            started = result
            if case .success = result { atexit { PostgresServer.stopShared() } }
            return try result.get()
        }
    }

    private static func stopShared() {
        if case .success(let server) = started { server.stop() }
    }

    /// A new, empty database on the server: its `postgres://` URL.
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try psql("CREATE DATABASE \(name) OWNER \(PostgresServer.user)")
        return url(database: String(name))
    }

    public func url(database: String) -> String {
        "postgres://\(PostgresServer.user):\(PostgresServer.password)@127.0.0.1:\(port)/\(database)"
    }

    /// Runs SQL as the superuser through `psql` over the server's socket folder.
    public func psql(_ sql: String, database: String = "postgres") throws {
        let result = try PostgresServer.runAsServerUser(bin + "/psql", ["-h", folder.path, "-p", String(port), "-U", "postgres", "-d", database,
                                                         "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        guard result.status == 0 else { throw Failure(message: "psql failed: \(result.stderr)") }
    }

    /// A query's answer through `psql` as the superuser, in the sqlite3 shell's plain form: rows
    /// on lines, columns joined by `|`, no header; trimmed. `url` is a database of `makeDatabase`.
    public func query(_ sql: String, url: String) throws -> String {
        let database = String(url.split(separator: "/").last ?? "")
        let result = try PostgresServer.runAsServerUser(bin + "/psql", ["-h", folder.path, "-p", String(port), "-U", "postgres", "-d", database,
                                                                      "-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-X", "-c", sql])
        guard result.status == 0 else { throw Failure(message: "psql failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    init() throws {
        bin = try PostgresServer.binaries()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if getuid() == 0 { _ = try PythonTools.run("/bin/chown", ["postgres:postgres", folder.path]) }
        let data = folder.appendingPathComponent("data").path
        let passwordFile = folder.appendingPathComponent("password").path
        try PostgresServer.runAsServerUser("/bin/sh", ["-c", "umask 077; printf '%s' \"$1\" > \"$2\"", "sh", PostgresServer.password, passwordFile])
        let initdb = try PostgresServer.runAsServerUser(bin + "/initdb", ["-D", data, "-U", "postgres", "--auth-local=trust",
                                                                          "--auth-host=scram-sha-256", "--pwfile=" + passwordFile,
                                                                          "-E", "UTF8", "--locale=C", "--no-sync"])
        guard initdb.status == 0 else { throw Failure(message: "initdb failed: \(initdb.stderr)") }
        var lastError = ""
        for _ in 0..<5 {
            let port = try PostgresServer.freePort()
            let options = "-p \(port) -k \(folder.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
            // The server inherits pg_ctl's output: it goes to a file, so nothing waits for the
            // server to close a pipe.
            let start = try PostgresServer.runDetached(bin + "/pg_ctl", ["-D", data, "-o", options, "-l", folder.appendingPathComponent("log").path,
                                                                         "-w", "-t", "30", "start"],
                                                       output: folder.appendingPathComponent("pg_ctl.out").path)
            if start == 0 {
                self.port = port
                try psql("CREATE ROLE \(PostgresServer.user) LOGIN CREATEDB PASSWORD '\(PostgresServer.password)'")
                return
            }
            lastError = ((try? String(contentsOf: folder.appendingPathComponent("pg_ctl.out"), encoding: .utf8)) ?? "")
                + ((try? String(contentsOf: folder.appendingPathComponent("log"), encoding: .utf8)) ?? "")
        }
        throw Failure(message: "pg_ctl could not start PostgreSQL: \(lastError)")
    }

    /// Stops the server (fast shutdown) and removes its folder.
    public func stop() {
        _ = try? PostgresServer.runDetached(bin + "/pg_ctl", ["-D", folder.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"],
                                            output: "/dev/null")
        try? FileManager.default.removeItem(at: folder)
    }

    @discardableResult
    private static func runAsServerUser(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        if getuid() == 0 { return try PythonTools.run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments) }
        return try PythonTools.run(executable, arguments)
    }

    /// Runs a program as the server's user with its output appended to `output` (a file, never a
    /// pipe), and waits for it: its exit status. Spawned and reaped directly: Foundation's
    /// `Process` learns of an exit through a descriptor the server started by `pg_ctl` would
    /// inherit and hold open, and would wait for the server instead.
    private static func runDetached(_ executable: String, _ arguments: [String], output: String) throws -> Int32 {
        let command = (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] : [executable]) + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw Failure(message: "cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
    }

    /// The newest PostgreSQL's `bin` folder under /usr/lib/postgresql, installing Debian's
    /// `postgresql` package when there is none.
    static func binaries() throws -> String {
        func newest() -> String? {
            let root = "/usr/lib/postgresql"
            let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
            return versions.last.map { "\(root)/\($0)/bin" }.flatMap { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") ? $0 : nil }
        }
        if let found = newest() { return found }
        _ = try PythonTools.debianExecutable("psql", package: "postgresql")
        guard let found = newest() else { throw Failure(message: "no PostgreSQL under /usr/lib/postgresql: run scripts/setup.sh") }
        return found
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(message: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw Failure(message: "bind() failed") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
