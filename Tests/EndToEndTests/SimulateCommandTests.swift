import Foundation
import TestSupport
import Testing

/// `tollbooth simulate` through the binary: the workbook read back with openpyxl, the JSON for
/// scripts, a refused candidate and bad arguments, and a database left as it was.
@Suite struct SimulateCommandTests {
    /// Acme on Starter (1,500 requests in April) and Initech on Pro, subscribed Apr 1; April
    /// and May billed by a run (bill dates Apr 1 and May 1), Jun 1 not yet closed.
    func billed(_ backend: Backend = .sqlite) throws -> CLI {
        let cli = try CLI(backend)
        try cli.importFixtures()
        for (customer, plan) in [("acme", "starter"), ("initech", "pro")] {
            let created = try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", "2026-04-01T00:00:00Z")
            #expect(created.status == 0, "\(created)")
        }
        let events = (0..<1_500).map { n in
            #"{"specversion":"1.0","id":"e\#(n)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-04-10T10:00:00Z","data":{}}"#
        }
        #expect(try cli.run("meter", "ingest", try cli.write("april.ndjson", events.joined(separator: "\n")), "--at", "2026-04-15T00:00:00Z").status == 0)
        let run = try cli.run("run", "--as-of", "2026-05-01T01:00:00Z", "--at", "2026-05-01T01:00:00Z")
        #expect(run.status == 0, "\(run)")
        return cli
    }

    /// The live catalog with Starter's API requests at 0.0025 instead of 0.002.
    func raised(_ cli: CLI) throws -> String {
        let live = try cli.run("catalog", "list", "--format", "json")
        let raised = live.stdout.replacingOccurrences(of: "\"0.002\"", with: "\"0.0025\"")
        try #require(raised != live.stdout)
        return try cli.write("candidate.json", raised)
    }

    let range = ["--from", "2026-05-01T00:00:00Z", "--to", "2026-07-01T00:00:00Z"]

    @Test(arguments: Backend.allCases) func theWorkbookReadBackShowsWhoPaysWhat(_ backend: Backend) throws {
        let cli = try billed(backend)
        let before = try cli.run("invoices", "list", "--format", "json")
        let out = cli.folder.appendingPathComponent("simulation.xlsx").path
        let simulated = try cli.run(["simulate", "--catalog", try raised(cli), "--out", out] + range)
        #expect(simulated.status == 0, "\(simulated)")
        #expect(simulated.output == out)

        let workbook = try ReadWorkbook(path: out)
        #expect(workbook.sheetNames == ["Summary", "Customers", "Plans", "Distribution"])
        #expect(workbook.header("Customers") == ["Customer", "Currency", "Plan", "Candidate plan", "Bills", "Before", "After", "Difference",
                                                 "Change", "Lines that moved most"])
        // Bill dates May 1 and Jun 1. Acme: May 1 29.00 + 1,500 x 0.002 = 3.00 -> 32.00, Jun 1
        // 29.00 (no May usage): 61.00 before; 1,500 x 0.0025 = 3.75: 61.75 after, +0.75.
        // Initech (Pro): 99.00 twice = 198.00 both ways. No tax is configured.
        let acme = try #require(workbook.rows("Customers").first { $0.first??["value"] as? String == "acme" })
        #expect(acme[2]?["value"] as? String == "starter")
        #expect(acme[4]?["value"] as? Double == 2)
        #expect(acme[5]?["value"] as? Double == 61)
        #expect(acme[6]?["value"] as? Double == 61.75)
        #expect(acme[7]?["value"] as? Double == 0.75)
        #expect(acme[7]?["format"] as? String == "#,##0.00 \"USD\"")
        #expect((acme[8]?["value"] as? Double).map { abs($0 - 0.0123) < 1e-9 } == true)
        #expect((acme[9]?["value"] as? String)?.hasPrefix("API requests (usage, 2026-05-01): 3.00 -> 3.75 (+0.75)") == true)
        let initech = try #require(workbook.rows("Customers").first { $0.first??["value"] as? String == "initech" })
        #expect(initech[7]?["value"] as? Double == 0)

        // Summary: per currency, amounts as formulas over Customers with exact cached values.
        #expect(workbook.header("Summary") == ["Currency", "Customers", "Before", "After", "Difference", "Change", "Paying more",
                                               "Paying less", "Paying the same"])
        let usd = try #require(workbook.rows("Summary").first { $0.first??["value"] as? String == "USD" })
        #expect(usd[1]?["cached"] as? Double == 2)
        #expect((usd[2]?["formula"] as? String)?.hasPrefix("=SUMIFS('Customers'!$F$2:$F$3,") == true, "\(String(describing: usd[2]))")
        #expect(usd[2]?["cached"] as? Double == 259)
        #expect(usd[3]?["cached"] as? Double == 259.75)
        #expect(usd[4]?["cached"] as? Double == 0.75)
        #expect(usd[6]?["cached"] as? Double == 1)
        #expect(usd[7]?["cached"] as? Double == 0)
        #expect(usd[8]?["cached"] as? Double == 1)

        let plans = workbook.rows("Plans").dropFirst().map { $0.prefix(4).map { $0?["value"].map { "\($0)" } ?? "" } }
        #expect(plans == [["pro", "pro", "USD", "1"], ["starter", "starter", "USD", "1"]])
        let distribution = workbook.rows("Distribution").dropFirst().prefix(12).map { "\($0[0]?["value"] ?? "") \($0[1]?["value"] ?? "")" }
        #expect(distribution.contains("no change 1"))
        #expect(distribution.contains("0% to +5% 1"))
        #expect(workbook.charts.count == 1)
        #expect(workbook.charts.first?["references"] as? [String] == ["'Distribution'!$B$1", "'Distribution'!$A$2:$A$13", "'Distribution'!$B$2:$B$13"])

        // Nothing stored changed.
        #expect(try cli.run("invoices", "list", "--format", "json").stdout == before.stdout)
        #expect(try cli.query("SELECT count(*) FROM period_closes") == "4")
    }

    @Test(arguments: Backend.allCases) func jsonForScriptsAndTheCustomersSheetAsCSV(_ backend: Backend) throws {
        let cli = try billed(backend)
        let candidate = try raised(cli)
        let json = try cli.run(["simulate", "--catalog", candidate, "--format", "json"] + range)
        #expect(json.status == 0, "\(json)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let totals = try #require(object["totals"] as? [[String: String]])
        #expect(totals == [["currency": "USD", "before": "259.00", "after": "259.75", "difference": "0.75"]])
        let customers = try #require(object["customers"] as? [[String: String]])
        #expect(customers.map { [$0["customer"]!, $0["plan"]!, $0["before"]!, $0["after"]!, $0["difference"]!] }
                == [["acme", "starter", "61.00", "61.75", "0.75"], ["initech", "pro", "198.00", "198.00", "0.00"]])

        let csv = try cli.run(["simulate", "--catalog", candidate, "--out", "customers.csv"] + range)
        #expect(csv.status == 0, "\(csv)")
        let text = try String(contentsOfFile: cli.folder.appendingPathComponent("customers.csv").path, encoding: .utf8)
        #expect(text.hasPrefix("Customer,Currency,Plan,Candidate plan,Bills,Before,After,Difference,Change,Lines that moved most\r\nacme,USD,starter,starter,2,61.00,61.75,0.75,0.0123,"))
    }

    @Test(arguments: Backend.allCases) func aBrokenCandidateIsRefusedWithEveryProblemListed(_ backend: Backend) throws {
        let cli = try billed(backend)
        let file = fixture("catalogs/broken/several_problems.json")
        let out = cli.folder.appendingPathComponent("refused.xlsx").path
        let refused = try cli.run(["simulate", "--catalog", file, "--out", out] + range)
        #expect(refused.status == 2, "\(refused)")
        let errors = lines(refused.stderr)
        #expect(errors.first == "error: \(file) has 12 problems:")
        #expect(errors.count == 13)
        #expect(errors.contains("  plan pro v0, currency: unknown currency \"usd\"; write it in upper case, \"USD\""))
        // The workbook holds the same problems, one a row.
        let workbook = try ReadWorkbook(path: out)
        #expect(workbook.sheetNames == ["Problems"])
        let problems = workbook.rows("Problems").dropFirst().map { "\($0[0]?["value"] ?? ""): \($0[1]?["value"] ?? "")" }
        #expect(problems.count == 12)
        #expect(problems.contains("plan pro v0, currency: unknown currency \"usd\"; write it in upper case, \"USD\""))
    }

    @Test(arguments: Backend.allCases) func badInputIsOneLineAndExitTwo(_ backend: Backend) throws {
        let cli = try billed(backend)
        let candidate = try raised(cli)
        let cases: [([String], String)] = [
            (["--catalog", candidate, "--map", "basic=pro", "--format", "json"] + range,
             "error: --map names plan basic, which the live catalog does not have (plans: enterprise, pro, starter)"),
            (["--catalog", candidate, "--map", "starter=gold", "--format", "json"] + range,
             "error: --map names plan gold, which the candidate catalog does not have (plans: enterprise, pro, starter)"),
            (["--catalog", "nowhere.json", "--format", "json"] + range, "error: file nowhere.json does not exist"),
            (["--catalog", candidate, "--format", "json", "--from", "2026-07-01T00:00:00Z", "--to", "2026-05-01T00:00:00Z"],
             "error: --from (2026-07-01T00:00:00Z) must be before --to (2026-05-01T00:00:00Z): the range holds bill dates from --from up to --to"),
        ]
        for (arguments, message) in cases {
            let outcome = try cli.run(["simulate"] + arguments)
            #expect(outcome.status == 2, "\(arguments): \(outcome)")
            #expect(outcome.stderr == message + "\n", "\(arguments)")
        }
        let badDate = try cli.run(["simulate", "--catalog", candidate, "--format", "json", "--from", "May 1", "--to", "2026-07-01T00:00:00Z"])
        #expect(badDate.status == 2)
        #expect(lines(badDate.stderr).count == 1 || badDate.stderr.contains("not an RFC 3339 time: May 1"), "\(badDate)")
    }

    @Test(arguments: Backend.allCases) func thePlanMapRatesAPlanOnAnother(_ backend: Backend) throws {
        let cli = try billed(backend)
        let live = try cli.write("live.json", try cli.run("catalog", "list", "--format", "json").stdout)
        let json = try cli.run(["simulate", "--catalog", live, "--map", "starter=pro", "--format", "json"] + range)
        #expect(json.status == 0, "\(json)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let customers = try #require(object["customers"] as? [[String: String]])
        // Acme on Pro: May 1 99.00 + 1,500 requests less 1,000 free x 0.001 = 0.50, + 0 tokens;
        // Jun 1 99.00: 198.50 against Starter's 61.00.
        #expect(customers.first { $0["customer"] == "acme" }.map { [$0["candidatePlan"]!, $0["before"]!, $0["after"]!] }
                == ["pro", "61.00", "198.50"])
    }

    @Test(arguments: Backend.allCases) func itRunsWhileAnotherProcessHoldsTheWriteLock(_ backend: Backend) throws {
        let cli = try billed(backend)
        let candidate = try raised(cli)
        // Another process opens a write transaction and keeps it open while simulate reads:
        // sqlite3's BEGIN IMMEDIATE, or psql holding the advisory lock every write transaction
        // of Tollbooth's takes on PostgreSQL ("writes").
        let holder = Process()
        switch backend {
        case .sqlite:
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            holder.arguments = [cli.database]
        case .postgres:
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            holder.arguments = [cli.database + "?application_name=write-holder", "-X", "-q", "-A", "-t"]
        }
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        defer {
            try? input.fileHandleForWriting.write(contentsOf: Data((backend == .sqlite ? "ROLLBACK;\n.quit\n" : "ROLLBACK;\n\\q\n").utf8))
            holder.waitUntilExit()
        }
        let begin = backend == .sqlite ? "BEGIN IMMEDIATE;" : "BEGIN; DO $$ BEGIN PERFORM pg_advisory_xact_lock(\(0x777269746573)); END $$;"
        try input.fileHandleForWriting.write(contentsOf: Data("\(begin)\nDELETE FROM adjustments;\nSELECT 'holding';\n".utf8))
        switch backend {
        case .sqlite:
            let answer = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            try #require(answer.hasPrefix("holding"), "\(answer)")
        case .postgres:
            // psql buffers what it writes to a pipe: the server says when the session holds the
            // lock and waits, its statements done.
            try #require(try poll(for: 30) {
                try cli.query("""
                    SELECT count(*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
                    WHERE a.application_name = 'write-holder' AND a.state = 'idle in transaction' AND l.locktype = 'advisory' AND l.granted
                      AND l.classid::bigint = \(0x777269746573 >> 32) AND l.objid::bigint = \(0x777269746573 & 0xFFFF_FFFF)
                    """) == "1"
            }, "psql holds the write lock")
        }
        let started = Date()
        let json = try cli.run(["simulate", "--catalog", candidate, "--format", "json"] + range)
        #expect(json.status == 0, "\(json)")
        #expect(json.stdout.contains(#""difference":"0.75""#))
        // Not a wait for the lock (the busy timeout is 10 s).
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
