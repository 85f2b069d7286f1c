import Foundation
import Testing
import TestSupport

/// The cron scripts in jobs/, run as cron would: `env -i` with only the documented variables.
@Suite struct JobScriptTests {
    static let jobs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("jobs")

    /// Runs `jobs/NAME` with exactly these variables (as `env -i` would), in the test's folder.
    func job(_ name: String, _ cli: CLI, _ extra: [String: String] = [:]) throws -> Outcome {
        let binary = try #require(CLI.binary)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [JobScriptTests.jobs.appendingPathComponent(name).path]
        process.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "TOLLBOOTH_HOME": cli.folder.path,
                               "TOLLBOOTH_BIN": binary.path].merging(extra) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.spawn()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    func event(_ id: String, subject: String) -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"gateway","type":"api.request","subject":"\#(subject)","time":"2026-04-10T09:00:00Z","data":{}}"#
    }

    func files(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    /// The database's variables for the jobs: none on SQLite (the default file in TOLLBOOTH_HOME),
    /// the URL and a secrets file on PostgreSQL.
    func database(_ cli: CLI) -> [String: String] {
        cli.backend == .sqlite ? [:] : ["TOLLBOOTH_DB": cli.database, "TOLLBOOTH_SECRETS": cli.folder.appendingPathComponent("secrets.json").path]
    }

    @Test(arguments: Backend.allCases) func theNightlyJobIngestsTheSpoolBacksUpAndBillsDespiteARejectedLine(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        for (customer, plan) in [("acme", "starter"), ("initech", "pro")] {
            #expect(try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", "2026-04-01T00:00:00Z").status == 0)
        }
        let incoming = cli.folder.appendingPathComponent("spool/incoming")
        try FileManager.default.createDirectory(at: incoming, withIntermediateDirectories: true)
        try Data(([event("a1", subject: "acme_prod"), event("a2", subject: "acme_prod"), "not json"].joined(separator: "\n") + "\n").utf8)
            .write(to: incoming.appendingPathComponent("2026-04-10.ndjson"))
        try Data((event("i1", subject: "initech") + "\n").utf8).write(to: incoming.appendingPathComponent("2026-04-11.ndjson"))

        let nightly = try job("nightly.sh", cli, ["TOLLBOOTH_AS_OF": "2026-05-01T02:00:00Z"].merging(database(cli)) { $1 })
        #expect(nightly.status == 1, "a rejected line makes the job exit 1: \(nightly)")
        #expect(nightly.stdout == "")
        #expect(nightly.stderr.contains("ingested 2026-04-11.ndjson"), "the failed run's log goes to stderr: \(nightly)")
        #expect(nightly.stderr.contains("issue: Stripe not configured; 4 invoices ready"), "\(nightly)")
        let spool = cli.folder.appendingPathComponent("spool")
        #expect(files(incoming) == [])
        #expect(files(spool.appendingPathComponent("done")) == ["2026-04-11.ndjson"])
        #expect(files(spool.appendingPathComponent("rejected")) == ["2026-04-10.ndjson", "2026-04-10.ndjson.rejected.txt"])
        let rejected = try String(contentsOf: spool.appendingPathComponent("rejected/2026-04-10.ndjson.rejected.txt"), encoding: .utf8)
        #expect(rejected.contains("line 3: not valid JSON"), "\(rejected)")
        // Billed anyway: the accepted lines are on the May invoices.
        let invoices = try cli.run("invoices", "list", "--format", "json")
        #expect(invoices.stdout.contains("inv_acme_20260501"), "\(invoices)")
        // SQLite's backup is a database file (VACUUM INTO), PostgreSQL's a pg_dump archive.
        let backups = files(cli.folder.appendingPathComponent("backups"))
        #expect(backups.count == 1 && backups[0].hasSuffix(backend == .sqlite ? ".db" : ".dump"), "\(backups)")
        let logs = files(cli.folder.appendingPathComponent("logs"))
        #expect(logs.count == 1 && logs[0].hasPrefix("nightly-"), "\(logs)")
        if backend == .postgres {
            let log = try String(contentsOf: cli.folder.appendingPathComponent("logs/\(logs[0])"), encoding: .utf8)
            #expect(log.contains("started; database postgres://\(PostgresServer.user)@"), "\(log)")
            #expect(!log.contains(PostgresServer.password), "the log never holds the database's password")
        }

        // Nothing left to do: the next night succeeds and prints one line.
        let again = try job("nightly.sh", cli, ["TOLLBOOTH_AS_OF": "2026-05-02T02:00:00Z"].merging(database(cli)) { $1 })
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.hasPrefix("nightly: done, log \(cli.folder.path)/logs/nightly-"), "\(again)")
        #expect(files(cli.folder.appendingPathComponent("backups")).count == 2)

        let rerun = try job("rerun-failed.sh", cli, database(cli))
        #expect(rerun.status == 0, "\(rerun)")

        // Period end on June 1: last month's bill dates (May) in a workbook.
        let periodEnd = try job("period-end.sh", cli, ["TOLLBOOTH_AS_OF": "2026-06-01T03:00:00Z"].merging(database(cli)) { $1 })
        #expect(periodEnd.status == 0, "\(periodEnd)")
        let workbook = cli.folder.appendingPathComponent("reports/out/reconciliation-2026-05.xlsx")
        #expect(FileManager.default.fileExists(atPath: workbook.path), "\(files(cli.folder.appendingPathComponent("reports/out")))")
        let log = try String(contentsOf: cli.folder.appendingPathComponent("logs")
            .appendingPathComponent(try #require(files(cli.folder.appendingPathComponent("logs")).first { $0.hasPrefix("period-end-") })),
                             encoding: .utf8)
        #expect(log.contains("workbook: \(workbook.path)"), "\(log)")
    }

    @Test(arguments: Backend.allCases) func aSecondJobWhileOneHoldsTheLockExits75AtOnceNamingIt(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        // Beside a SQLite file; for a PostgreSQL database, in TOLLBOOTH_HOME.
        let lock = backend == .sqlite ? cli.database + ".jobs.lock" : cli.folder.appendingPathComponent("tollbooth.jobs.lock").path
        try Data("nightly pid 4242 started 2026-05-01T02:30:00Z\n".utf8).write(to: URL(fileURLWithPath: lock))
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        // -o: the lock belongs to flock alone, so killing it frees the lock at once.
        holder.arguments = ["-o", lock, "sleep", "3"]
        try holder.spawn()
        defer {
            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
        }
        // flock takes the lock as it starts; wait until it holds it.
        for _ in 0..<100 {
            let probe = Process()
            probe.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            probe.arguments = ["-n", lock, "true"]
            try probe.spawn()
            probe.waitUntilExit()
            if probe.terminationStatus != 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let started = Date()
        let second = try job("nightly.sh", cli, database(cli))
        #expect(second.status == 75, "\(second)")
        #expect(second.stderr == "nightly: another tollbooth job holds \(lock) (nightly pid 4242 started 2026-05-01T02:30:00Z); exiting\n")
        #expect(Date().timeIntervalSince(started) < 10, "it does not wait for the lock")
        #expect(files(cli.folder.appendingPathComponent("backups")).isEmpty, "nothing is done without the lock")
    }
}
