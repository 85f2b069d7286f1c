import Foundation
import Testing
import TestSupport

/// A whole month through the binary: import, subscribe, ingest (with duplicates, malformed and
/// late events), change, cancel, run twice, and invoices checked against amounts by hand.
///
/// The sample catalog: Starter 29.00 a month in advance, requests at 0.002; Pro 99.00 a month,
/// requests graduated (first 1,000 free, then up to 10,000 at 0.001, then up to 100,000 at
/// 0.0008 plus a 5.00 flat tier price), tokens 2.00 per million. April 2026 has 30 days.
@Suite struct BillRunCommandTests {
    func event(_ id: String, subject: String, time: String, type: String = "api.request", data: String = "{}") -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"gateway","type":"\#(type)","subject":"\#(subject)","time":"\#(time)","data":\#(data)}"#
    }

    /// The invoice's lines as "kind rateCard amount".
    func lines(_ cli: CLI, _ id: String) throws -> [String] {
        let show = try cli.run("invoices", "show", id, "--format", "json")
        #expect(show.status == 0, "\(show)")
        let invoice = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let lines = try #require(invoice["lines"] as? [[String: Any]])
        return lines.map { "\($0["kind"] as? String ?? "") \($0["rateCardKey"] as? String ?? "-") \($0["amount"] as? String ?? "")" }
    }

    func total(_ cli: CLI, _ id: String) throws -> String? {
        let show = try cli.run("invoices", "show", id, "--format", "json")
        let invoice = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        return invoice?["total"] as? String
    }

    @Test(arguments: Backend.allCases) func aMonthOfBillingThroughTheCommandLine(_ backend: Backend) throws {
        _ = try billAMonth(backend)
    }

    /// The same history replayed through the command line on SQLite and on PostgreSQL bills the
    /// same: every invoice and line, byte for byte, subscription ids aside (they are random).
    @Test func bothBackendsBillTheSameHistoryByteForByte() throws {
        func invoices(_ cli: CLI) throws -> String {
            let list = try cli.run("invoices", "list", "--format", "json").stdout
            let ids = try #require(try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]]).compactMap { $0["id"] as? String }
            let shown = try ids.map { try cli.run("invoices", "show", $0, "--format", "json").stdout }
            // Subscription ids in order of appearance: sub_1, sub_2, ...
            var text = ([list] + shown).joined(separator: "\n")
            var names: [String: String] = [:]
            while let range = text.range(of: #"sub_[0-9a-f]{16}"#, options: .regularExpression) {
                let id = String(text[range])
                let name = names[id] ?? "sub_\(names.count + 1)"
                names[id] = name
                text.replaceSubrange(range, with: name)
            }
            return text
        }
        let sqlite = try invoices(try billAMonth(.sqlite)), postgres = try invoices(try billAMonth(.postgres))
        #expect(sqlite.contains("inv_acme_20260601") && sqlite.contains("late_usage"))
        #expect(sqlite == postgres)
    }

    /// April and May of Acme and Initech through the command line, every invoice checked to the
    /// cent; returns the command line on the billed database.
    func billAMonth(_ backend: Backend) throws -> CLI {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let acme = try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "starter", "--at", "2026-04-01T00:00:00Z")
        #expect(acme.status == 0, "\(acme)")
        let initech = try cli.run("subscriptions", "create", "--customer", "initech", "--plan", "pro", "--at", "2026-04-01T00:00:00Z")
        #expect(initech.status == 0, "\(initech)")

        // April's events: Acme 3 + 2 requests on two subject keys, one line twice, one malformed
        // line, one unknown subject; Initech 12,000 requests.
        var april = [
            event("a1", subject: "acme_prod", time: "2026-04-10T09:00:00Z"),
            event("a2", subject: "acme_prod", time: "2026-04-10T09:00:01Z"),
            event("a3", subject: "acme_prod", time: "2026-04-10T09:00:02Z"),
            event("a4", subject: "acme_staging", time: "2026-04-11T09:00:00Z"),
            event("a5", subject: "acme_staging", time: "2026-04-11T09:00:01Z"),
            event("a5", subject: "acme_staging", time: "2026-04-11T09:00:01Z"),
            #"{"specversion":"1.0","id":"bad""#,
            event("x1", subject: "nobody", time: "2026-04-11T09:00:00Z"),
        ]
        april += (0..<12_000).map { event("i\($0)", subject: "initech", time: "2026-04-12T10:00:00Z") }
        let ingest = try cli.run("meter", "ingest", try cli.write("april.ndjson", april.joined(separator: "\n") + "\n"),
                                 "--at", "2026-04-15T00:00:00Z")
        #expect(ingest.status == 2, "\(ingest)")
        #expect(ingest.stdout == "accepted 12005, duplicate 1, rejected 2\n")
        #expect(ingest.stderr.contains("error: \(cli.folder.path)/april.ndjson line 7: not valid JSON"))
        #expect(ingest.stderr.contains("line 8: unknown subject \"nobody\""))
        // Nothing accepted is lost because of a bad neighbour, and a second ingest is all duplicates.
        let again = try cli.run("meter", "ingest", try cli.write("again.ndjson", april.prefix(6).joined(separator: "\n")),
                                "--at", "2026-04-15T00:00:00Z")
        #expect(again.stdout == "accepted 0, duplicate 6, rejected 0\n")
        #expect(again.status == 0)

        // Acme upgrades to Pro on day 16 (15 of 30 days elapsed), then uses 1,500 requests.
        let pro = try cli.run("subscriptions", "change", acme.output, "--plan", "pro", "--at", "2026-04-16T00:00:00Z")
        #expect(pro.status == 0, "\(pro)")
        let later = (0..<1_500).map { event("p\($0)", subject: "acme_prod", time: "2026-04-20T10:00:00Z") }
        #expect(try cli.run("meter", "ingest", try cli.write("pro.ndjson", later.joined(separator: "\n")), "--at", "2026-04-21T00:00:00Z").status == 0)
        // Initech cancels at the end of the cycle.
        let cancel = try cli.run("subscriptions", "cancel", initech.output, "--timing", "next_billing_cycle", "--at", "2026-04-20T00:00:00Z")
        #expect(cancel.output == "2026-05-01T00:00:00Z")

        let run = try cli.run("run", "--as-of", "2026-05-01T01:00:00Z")
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("issue: Stripe not configured; 4 invoices ready"))

        #expect(try lines(cli, "inv_acme_20260401") == ["fee base_fee 29.00"])
        #expect(try lines(cli, "inv_initech_20260401") == ["fee base_fee 99.00"])
        // Acme, May 1: Starter's 5 requests x 0.002 = 0.01; Starter's credit
        // 29.00 x (1 - max(15/30, 5/10,000)) = 14.50; Pro's May fee 99.00; the rest of April on Pro
        // 99.00 x 15/30 = 49.50; Pro's 1,500 requests - 1,000 free = 500 x 0.001 = 0.50; tokens 0.
        #expect(try lines(cli, "inv_acme_20260501") == [
            "usage api_requests 0.01", "fee base_fee 99.00", "proration_charge base_fee 49.50",
            "usage api_requests 0.50", "usage tokens 0.00", "proration_credit base_fee -14.50",
        ])
        // 0.01 + 99.00 + 49.50 + 0.50 - 14.50 = 134.51
        #expect(try total(cli, "inv_acme_20260501") == "134.51")
        // Initech, May 1: 12,000 - 1,000 free = 11,000: 10,000 x 0.001 = 10.00, then
        // 1,000 x 0.0008 = 0.80 plus the tier's flat 5.00: 15.80; no May fee (cancelled).
        #expect(try lines(cli, "inv_initech_20260501") == ["usage api_requests 15.80", "usage tokens 0.00"])

        // A second run with the same as-of changes nothing.
        let before = try cli.run("invoices", "list", "--format", "json").stdout
        let second = try cli.run("run", "--as-of", "2026-05-01T01:00:00Z")
        #expect(second.stdout.contains("close: closed 0 billing periods"))
        #expect(try cli.run("invoices", "list", "--format", "json").stdout == before)

        // 500 more of Acme's April Starter requests arrive late.
        let late = (0..<500).map { event("l\($0)", subject: "acme_staging", time: "2026-04-12T08:00:00Z") }
        let lateIngest = try cli.run("meter", "ingest", try cli.write("late.ndjson", late.joined(separator: "\n")), "--at", "2026-05-03T00:00:00Z")
        #expect(lateIngest.stdout == "accepted 500, duplicate 0, rejected 0 (500 late, billed on the next invoice)\n")
        #expect(try cli.run("run", "--as-of", "2026-06-01T01:00:00Z").status == 0)
        // June: Pro's fee 99.00, May's usage 0; April on Starter recomputed: 505 x 0.002 = 1.01,
        // billed 0.01, so late usage 1.00.
        #expect(try lines(cli, "inv_acme_20260601") == [
            "fee base_fee 99.00", "usage api_requests 0.00", "usage tokens 0.00", "late_usage api_requests 1.00",
        ])
        #expect(try total(cli, "inv_acme_20260601") == "100.00")
        return cli
    }

    @Test(arguments: Backend.allCases) func aSecondRunWhileOneHoldsTheLockExits75(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        // Hold the lock from outside, as a running bill run would: SQLite's lock file with
        // flock(1); PostgreSQL's session advisory lock ("tollrun") from a psql session named
        // "outside-holder".
        let holder = Process()
        switch backend {
        case .sqlite:
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            holder.arguments = [cli.database + ".lock", "sleep", "5"]
        case .postgres:
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
            holder.arguments = [cli.database + "?application_name=outside-holder", "-X", "-q",
                                "-c", "SELECT pg_advisory_lock(\(0x746f6c6c72756e))", "-c", "SELECT pg_sleep(5)"]
            holder.standardOutput = FileHandle.nullDevice
        }
        try holder.spawn()
        defer { holder.terminate() }
        Thread.sleep(forTimeInterval: backend == .sqlite ? 0.5 : 1.5)
        let run = try cli.run("run", "--as-of", "2026-05-01T01:00:00Z")
        #expect(run.status == 75, "\(run)")
        #expect(run.stderr.hasPrefix("error: another bill run holds the lock"))
        if backend == .postgres { #expect(run.stderr.contains("(outside-holder)"), "the holder named: \(run)") }
    }

    @Test(arguments: Backend.allCases) func dryRunWritesNothing(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        #expect(try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "starter", "--at", "2026-04-01T00:00:00Z").status == 0)
        let dry = try cli.run("run", "--as-of", "2026-05-01T01:00:00Z", "--dry-run")
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.contains("dry run: 2 invoices would be rated"))
        #expect(try cli.run("invoices", "list", "--format", "csv").stdout.split(separator: "\r\n").count == 1)
    }
}
