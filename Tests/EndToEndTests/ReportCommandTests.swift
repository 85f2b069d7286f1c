import Foundation
import TestSupport
import Testing

/// `tollbooth report` through the binary: invoices billed by the command line, the workbook read
/// back with openpyxl and its totals compared with `invoices list --format json`.
@Suite struct ReportCommandTests {
    /// April and May 2026 billed for Acme (Starter, USD, 1,500 requests in April), Initech (Pro,
    /// USD) and Umbrella (Starter Japan, JPY): bill dates Apr 1, May 1 and Jun 1.
    func billedMonths(_ backend: Backend) throws -> CLI {
        let cli = try CLI(backend)
        try cli.importFixtures()
        #expect(try cli.run("catalog", "import", fixture("catalogs/jpy.json")).status == 0)
        for (customer, plan) in [("acme", "starter"), ("initech", "pro"), ("umbrella", "starter_jp")] {
            let created = try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", "2026-04-01T00:00:00Z")
            #expect(created.status == 0, "\(created)")
        }
        let events = (0..<1_500).map { n in
            #"{"specversion":"1.0","id":"e\#(n)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-04-10T10:00:00Z","data":{}}"#
        }
        #expect(try cli.run("meter", "ingest", try cli.write("april.ndjson", events.joined(separator: "\n")), "--at", "2026-04-15T00:00:00Z").status == 0)
        let run = try cli.run("run", "--as-of", "2026-06-01T01:00:00Z")
        #expect(run.status == 0, "\(run)")
        return cli
    }

    /// Each currency's total of the invoices in the range as `invoices list` prints them, in
    /// minor units (decimal strings with the currency's decimals, the point removed).
    func listedTotals(_ cli: CLI, from: String, to: String) throws -> [String: Int64] {
        let list = try cli.run("invoices", "list", "--format", "json")
        let invoices = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        var totals: [String: Int64] = [:]
        for invoice in invoices where invoice["status"] as? String != "void" {
            let billDate = invoice["billDate"] as? String ?? ""
            guard billDate >= from, billDate < to, let total = invoice["total"] as? String, let currency = invoice["currency"] as? String else { continue }
            totals[currency, default: 0] += Int64(total.replacingOccurrences(of: ".", with: ""))!
        }
        return totals
    }

    @Test(arguments: Backend.allCases) func theReconciliationWorkbookAgreesWithTheInvoicesToTheCent(_ backend: Backend) throws {
        let cli = try billedMonths(backend)
        let out = cli.folder.appendingPathComponent("reconciliation.xlsx").path
        let report = try cli.run("report", "reconciliation", "--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z", "--out", out)
        #expect(report.status == 0, "\(report)")
        #expect(report.output == out)

        let workbook = try ReadWorkbook(path: out)
        #expect(workbook.sheetNames == ["Summary", "Invoices", "Lines", "Usage", "Tax", "Credits", "Differences", "Failures"])
        #expect(workbook.header("Summary") == ["Currency", "Invoices", "Subtotal", "Tax", "Total", "Paid", "Outstanding", "Not issued",
                                               "Failed", "Differences"])
        // Bill dates Apr 1 and May 1 (Jun 1 is --to, not included): Acme 29.00 and
        // 29.00 + 1,500 requests x 0.002 = 32.00, Initech 99.00 twice:
        // 29.00 + 32.00 + 99.00 + 99.00 = 259.00 USD; Umbrella 3000 + 4000 = 7000 JPY.
        let listed = try listedTotals(cli, from: "2026-04-01T00:00:00Z", to: "2026-06-01T00:00:00Z")
        #expect(listed == ["USD": 25_900, "JPY": 7_000])
        for (currency, decimals) in [("USD", 2.0), ("JPY", 0.0)] {
            let row = try #require(workbook.rows("Summary").first { $0.first??["value"] as? String == currency })
            let total = try #require(row[4])
            #expect((total["formula"] as? String)?.hasPrefix("=SUMIFS('Invoices'!$J$2:$J$7,") == true, "\(total)")
            let cached = try #require(total["cached"] as? Double)
            #expect(Int64((cached * pow(10, decimals)).rounded()) == listed[currency], "\(currency)")
        }
        // Dates are dates, money is money.
        let first = try #require(workbook.rows("Invoices").dropFirst().first)
        #expect(first[2]?["type"] as? String == "date")
        #expect(first[9]?["type"] as? String == "number")
        #expect(workbook.charts.count == 1)
    }

    @Test(arguments: Backend.allCases) func everyReportAsCSV(_ backend: Backend) throws {
        let cli = try billedMonths(backend)
        let range = ["--from", "2026-04-01T00:00:00Z", "--to", "2026-07-01T00:00:00Z"]
        let lines = try cli.run(["report", "reconciliation"] + range + ["--out", "lines.csv", "--sheet", "Lines"])
        #expect(lines.status == 0, "\(lines)")
        let text = try String(contentsOfFile: cli.folder.appendingPathComponent("lines.csv").path, encoding: .utf8)
        #expect(text.hasPrefix("Invoice,Customer,Bill date,Currency,Invoice status,Kind,Plan,Rate card,Description,Quantity,Unit price,"))
        #expect(text.contains("inv_umbrella_20260401,umbrella,2026-04-01T00:00:00Z,JPY,taxed,fee,starter_jp,base_fee,月額基本料金,,,3000,"))
        #expect(try cli.run(["report", "invoices"] + range + ["--out", "invoices.csv"]).status == 0)
        let invoices = try String(contentsOfFile: cli.folder.appendingPathComponent("invoices.csv").path, encoding: .utf8)
        #expect(invoices.components(separatedBy: "\r\n").count == 1 + 9 + 1, "a header, 9 invoices, the empty string after the last CRLF")
        #expect(try cli.run(["report", "usage"] + range + ["--out", "usage.xlsx"]).status == 0)
        #expect(try ReadWorkbook(path: cli.folder.appendingPathComponent("usage.xlsx").path).sheetNames == ["Usage"])
    }

    @Test(arguments: Backend.allCases) func badReportArgumentsExitTwoWithOneLine(_ backend: Backend) throws {
        let cli = try CLI(backend)
        #expect(try cli.run("catalog", "import", fixture("catalogs/sample.json")).status == 0)
        let cases: [([String], String)] = [
            (["--from", "2026-06-01T00:00:00Z", "--to", "2026-04-01T00:00:00Z", "--out", "r.xlsx"],
             "error: --from (2026-06-01T00:00:00Z) must be before --to (2026-04-01T00:00:00Z): the range holds bill dates from --from up to --to\n"),
            (["--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z", "--out", "/nonexistent-folder/r.xlsx"],
             "error: cannot write /nonexistent-folder/r.xlsx: the folder /nonexistent-folder does not exist\n"),
            (["--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z", "--out", "r.pdf"],
             "error: --out must end in .xlsx or .csv, not .pdf: r.pdf\n"),
            (["--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z", "--out", "r.csv"],
             "error: a reconciliation CSV holds one sheet: add --sheet with one of Summary, Invoices, Lines, Usage, Tax, Credits, Differences, Failures\n"),
            (["--from", "April", "--to", "2026-06-01T00:00:00Z", "--out", "r.xlsx"],
             "error: The value 'April' is invalid for '--from <time>': not an RFC 3339 time: April"),
        ]
        for (arguments, message) in cases {
            let outcome = try cli.run(["report", "reconciliation"] + arguments)
            #expect(outcome.status == 2, "\(outcome)")
            #expect(outcome.stderr.hasPrefix(message), "\(outcome)")
            #expect(lines(outcome.stderr).count == 1, "\(outcome)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: cli.folder.path).filter { $0.hasPrefix("r.") || $0.hasPrefix(".r.") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test(arguments: Backend.allCases) func aFailedWriteLeavesNoHalfWrittenFile(_ backend: Backend) throws {
        let cli = try billedMonths(backend)
        // A stored amount that is not a decimal stops the report in the middle of the Lines sheet.
        try cli.query("UPDATE invoice_lines SET amount = 'twelve' WHERE invoice_id = 'inv_initech_20260501'")
        #expect(try cli.query("SELECT count(*) FROM invoice_lines WHERE amount = 'twelve'") != "0")
        let report = try cli.run("report", "reconciliation", "--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z", "--out", "r.xlsx")
        #expect(report.status == 1, "\(report)")
        #expect(report.stderr.hasPrefix("error: the amount of line inv_initech_20260501_1 is not an amount in USD: twelve"), "\(report)")
        let left = try FileManager.default.contentsOfDirectory(atPath: cli.folder.path).filter { $0.contains("r.xlsx") }
        #expect(left.isEmpty, "\(left)")
    }
}
