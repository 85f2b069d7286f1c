import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// A bill run killed (SIGKILL) part-way and run again ends with exactly the invoices of a run
/// that was never interrupted: no duplicate, no gap.
@Suite struct CrashRecoveryTests {
    @Test(arguments: Backend.allCases) func aKilledRunRunAgainMakesTheSameInvoices(_ backend: Backend) throws {
        let cli = try CLI(backend)
        // 1,500 customers with a subscription each and a few thousand events: in bench.db, or
        // in the test's PostgreSQL database.
        let prepared = try cli.run(["bench", "prepare", "--folder", cli.folder.path, "--events", "5000", "--subjects", "1500", "--days", "30"]
                                   + (backend == .postgres ? ["--postgres", cli.database] : []))
        #expect(prepared.status == 0, "\(prepared)")
        let times = prepared.stdout.split(separator: "\n").map(String.init)
        let bench = backend == .sqlite ? cli.folder.appendingPathComponent("bench.db").path : cli.database
        let ingest = try cli.run("--db", bench, "--at", times[0], "meter", "ingest", cli.folder.appendingPathComponent("events.ndjson").path)
        #expect(ingest.status == 0, "\(ingest)")
        // The reference starts from a copy: of the file, or a database made from this one as its template.
        let copy: String
        switch backend {
        case .sqlite:
            copy = cli.folder.appendingPathComponent("reference.db").path
            try FileManager.default.copyItem(atPath: bench, toPath: copy)
        case .postgres:
            let server = try PostgresServer.shared()
            let name = "r_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
            try server.psql("CREATE DATABASE \(name) TEMPLATE \(bench.split(separator: "/").last ?? "") OWNER \(PostgresServer.user)")
            copy = server.url(database: String(name))
        }

        // The reference: one uninterrupted run.
        let reference = try cli.run("--db", copy, "run", "--as-of", times[1])
        #expect(reference.status == 0, "\(reference)")

        // Kill runs at several points, then finish.
        var killed = 0
        for delay in [0.3, 0.8, 1.5] {
            let process = Process()
            process.executableURL = try #require(CLI.binary)
            process.arguments = ["--db", bench, "run", "--as-of", times[1]]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.spawn()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }
        }
        // At least one run was stopped part-way (a later one may find the work already done).
        #expect(killed >= 1)
        let finish = try cli.run("--db", bench, "run", "--as-of", times[1])
        #expect(finish.status == 0, "\(finish)")

        let expected = try cli.run("--db", copy, "invoices", "list", "--format", "json").stdout
        let actual = try cli.run("--db", bench, "invoices", "list", "--format", "json").stdout
        #expect(expected.count > 100)
        #expect(actual == expected)
        // 1,500 subscriptions from Jan 1: the Jan 1 and Feb 1 invoices of each.
        #expect(try cli.run("--db", bench, "invoices", "list", "--format", "csv").stdout.split(separator: "\r\n").count == 1 + 3_000)
    }

    /// Issuing with four invoices in flight, killed (SIGKILL) right after one of Stripe's answers
    /// and before it is stored, at a point drawn at random: the Kth customer, invoice, add_lines
    /// chunk or finalize of the process. Run again (after Stripe forgot its idempotency keys,
    /// for half the cases), Stripe holds exactly one invoice per local invoice, each line once.
    @Test(arguments: Backend.allCases, [("issue.customer", false), ("issue.invoice", true), ("issue.lines.1", false), ("issue.lines.2", true),
                                        ("issue.lines.3", false), ("issue.finalize", true), ("issue.lines.2", false), ("issue.lines.1", true)])
    func issuingKilledWithFourInvoicesInFlightEndsWithEachOnce(_ backend: Backend, _ point: (String, Bool)) throws {
        let (point, keysExpired) = point
        let cli = try CLI(backend)
        let sim = try Simulator(arguments: ["--limits", "none"])
        let invoices = 12, lines = 5
        let prepared = try cli.run("bench", "prepare-issue", "--path", cli.database, "--invoices", "\(invoices)", "--lines", "\(lines)")
        #expect(prepared.status == 0, "\(prepared)")
        let asOf = prepared.output
        // Two lines to a call: three add_lines calls for each invoice of five.
        try cli.write("tollbooth.json", """
            {"stripe": {"apiBase": "\(sim.baseURL)", "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000,
                        "concurrency": 4, "linesPerRequest": 2}}
            """)
        let key = ["TOLLBOOTH_STRIPE_KEY": "sk_test_crash0000000000001"]
        #expect(try cli.run(["stripe", "connect"], environment: key).status == 0)

        let hit = Int.random(in: 1...8)
        let failpoint = "\(point)@\(hit)"
        let killed = try cli.run(["run", "--as-of", asOf], environment: key.merging(["TOLLBOOTH_FAILPOINT": failpoint]) { $1 })
        #expect(killed.status == SIGKILL, "killed at \(failpoint): \(killed)")
        if keysExpired { try sim.control("POST", "clock", ["advance": 25 * 3600]) }
        let again = try cli.run(["run", "--as-of", asOf], environment: key)
        #expect(again.status == 0, "after \(failpoint): \(again)")
        #expect(again.stdout.contains("failed 0, skipped 0"), "after \(failpoint): \(again)")

        func list(_ path: String) throws -> [[String: Any]] {
            var request = URLRequest(url: URL(string: sim.baseURL + path)!)
            request.setValue("Bearer sk_test_crash0000000000001", forHTTPHeaderField: "Authorization")
            let (data, status) = try SimulatorControl.send(request)
            #expect(status == 200, "GET \(path)")
            return ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["data"] as? [[String: Any]]) ?? []
        }
        #expect(try list("/v1/customers?limit=100").count == invoices, "after \(failpoint): one Stripe customer each")
        let remote = try list("/v1/invoices?limit=100")
        let byLocal = Dictionary(grouping: remote) { ($0["metadata"] as? [String: String])?["tollbooth_invoice"] ?? "" }
        #expect(remote.count == invoices && byLocal.count == invoices && byLocal.values.allSatisfy { $0.count == 1 },
                "after \(failpoint): \(byLocal.mapValues(\.count))")
        for (local, found) in byLocal {
            guard let stripeInvoice = found.first, let id = stripeInvoice["id"] as? String else { continue }
            #expect(stripeInvoice["status"] as? String == "open", "\(local) after \(failpoint)")
            let items = try list("/v1/invoiceitems?invoice=\(id)&limit=100")
            let lineIds = items.compactMap { ($0["metadata"] as? [String: String])?["tollbooth_line"] }
            #expect(items.count == lines && Set(lineIds).count == lines, "\(local) after \(failpoint): lines \(lineIds.sorted())")
            // Fees of 5.00 to 9.00: 3,500 cents.
            #expect(stripeInvoice["total"] as? Int == 3_500, "\(local) after \(failpoint)")
        }
        let local = try cli.run("invoices", "list", "--format", "json")
        let rows = (try JSONSerialization.jsonObject(with: Data(local.stdout.utf8)) as? [[String: Any]]) ?? []
        #expect(rows.count == invoices)
        #expect(rows.allSatisfy { $0["status"] as? String == "payment_failed" }, "after \(failpoint): issued and collected")
    }
}
