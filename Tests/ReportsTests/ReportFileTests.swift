import Foundation
import Testing
@testable import Billing
@testable import Reports
@testable import Store

/// CSV exports, argument checks and what a failed write leaves behind.
@Suite struct ReportFileTests {
    @Test func everySheetOfTheReconciliationAsRFC4180CSV() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        for sheet in ReportLayout.reconciliation.sheets {
            let path = folder.appendingPathComponent("\(sheet.name).csv").path
            try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path, sheet: sheet.name.lowercased())
            let text = try #require(String(data: try Data(contentsOf: URL(fileURLWithPath: path)), encoding: .utf8))
            #expect(text.hasPrefix(sheet.columns.map(\.title).joined(separator: ",") + "\r\n"), "\(sheet.name)")
            #expect(text.hasSuffix("\r\n") && !text.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "\(sheet.name): CRLF only")
        }
        let lines = try String(contentsOfFile: folder.appendingPathComponent("Lines.csv").path, encoding: .utf8)
        // UTF-8 text, a quoted field with doubled quotes and a comma, amounts with the currency's decimals.
        #expect(lines.contains("inv_umbrella_20260501,umbrella,2026-05-01T00:00:00Z,JPY,issued,fee,starter_jp,base_fee,月額基本料金,,,3000,"))
        #expect(lines.contains(#","Goodwill, ""sorry""","#))
        #expect(lines.contains(",2026-05-01T00:00:00Z,2026-06-01T00:00:00Z,29.00,2.10,exclusive\r\n"))
        // Totals are the workbook's: the CSV holds data rows only (7 lines and the header).
        #expect(lines.components(separatedBy: "\r\n").count == 9)
        let summary = try String(contentsOfFile: folder.appendingPathComponent("Summary.csv").path, encoding: .utf8)
        #expect(summary.contains("USD,2,57.01,4.20,61.21,30.11,0.00,0.00,31.10,0\r\n"))
        #expect(summary.contains("JPY,1,4000,0,4000,0,4000,0,0,1\r\n"))
    }

    @Test func invoicesAndUsageReportsAsCSV() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        let usage = folder.appendingPathComponent("usage.csv").path
        try Report.usage.write(store: store, from: rangeStart, to: rangeEnd, path: usage)
        #expect(try String(contentsOfFile: usage, encoding: .utf8) == """
            Customer,Currency,Meter,Feature,Quantity,Billed amount\r
            acme,USD,api_requests,api_requests,5,0.01\r
            umbrella,JPY,api_requests,api_requests,500,1000\r

            """)
        let invoices = folder.appendingPathComponent("invoices.csv").path
        try Report.invoices.write(store: store, from: rangeStart, to: rangeEnd, path: invoices)
        let rows = try String(contentsOfFile: invoices, encoding: .utf8).components(separatedBy: "\r\n")
        #expect(rows.count == 6)
        #expect(rows[2] == "inv_acme_20260501,acme,2026-05-01T00:00:00Z,2026-04-01T00:00:00Z,2026-06-01T00:00:00Z,USD,paid,28.01,2.10,30.11,in_may,ACME-0001,30.11,0.00,2026-05-03T12:30:00Z,")
    }

    @Test func badArgumentsAreInputErrorsAndWriteNothing() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        func failure(_ path: String, from: Instant = rangeStart, to: Instant = rangeEnd, sheet: String? = nil,
                     report: Report = .reconciliation) -> ReportError? {
            do {
                try report.write(store: store, from: from, to: to, path: path, sheet: sheet)
                return nil
            } catch let error as ReportError {
                return error
            } catch {
                return nil
            }
        }
        let out = folder.appendingPathComponent("r.xlsx").path
        #expect(failure(out, from: rangeEnd, to: rangeStart)?.message
                == "--from (2026-07-01T00:00:00Z) must be before --to (2026-04-01T00:00:00Z): the range holds bill dates from --from up to --to")
        #expect(failure(out, from: rangeStart, to: rangeStart)?.isInput == true)
        #expect(failure(folder.appendingPathComponent("r.txt").path)?.message.hasPrefix("--out must end in .xlsx or .csv, not .txt") == true)
        #expect(failure("/nonexistent-folder/r.xlsx")?.message == "cannot write /nonexistent-folder/r.xlsx: the folder /nonexistent-folder does not exist")
        #expect(failure(out, sheet: "Lines")?.isInput == true)
        #expect(failure(folder.appendingPathComponent("r.csv").path)?.message.hasPrefix("a reconciliation CSV holds one sheet: add --sheet") == true)
        #expect(failure(folder.appendingPathComponent("r.csv").path, sheet: "Nope")?.isInput == true)
        // What went wrong is a case a caller switches over: the arguments, or where the output goes.
        #expect(failure(out, from: rangeEnd, to: rangeStart)?.kind == .arguments)
        #expect(failure(out, sheet: "Lines")?.kind == .arguments)
        #expect(failure("/nonexistent-folder/r.xlsx")?.kind == .output)
        #expect(failure(folder.appendingPathComponent("r.txt").path)?.kind == .arguments)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix("tollbooth.db") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func aFailedWriteLeavesNoFileBehind() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        // A stored amount the report cannot read exactly stops it half-way through the lines.
        try store.database.run("UPDATE invoice_lines SET amount = '1.005' WHERE id = 'inv_umbrella_20260501_2'")
        for name in ["r.xlsx", "r.csv"] {
            let path = folder.appendingPathComponent(name).path
            #expect(throws: ReportAmountError.self) {
                try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path, sheet: name.hasSuffix(".csv") ? "Usage" : nil)
            }
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix("tollbooth.db") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func aCellTheWorkbookRefusesLeavesNoFileBehind() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        // A cell holds at most 32,767 characters: libxlsxwriter refuses the line's description on
        // the writing thread, and the report stops there.
        try store.database.run("UPDATE invoice_lines SET description = ? WHERE id = 'inv_acme_20260501_2'",
                               [.text(String(repeating: "x", count: 40_000))])
        let path = folder.appendingPathComponent("r.xlsx").path
        #expect {
            try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path)
        } throws: { error in
            (error as? ReportError)?.message.hasPrefix("cannot write row 4 of the Lines sheet: ") == true
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix("tollbooth.db") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func aFailedWriteKeepsTheFileThatWasThere() throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        let path = folder.appendingPathComponent("r.xlsx").path
        try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        try store.database.run("UPDATE invoice_lines SET amount = 'x' WHERE id = 'inv_acme_20260501_1'")
        #expect(throws: ReportAmountError.self) { try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func theLayoutsInTheReportsFolderAreTheCodes() throws {
        for layout in Report.allCases.map(\.layout) + [.simulation] {
            let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("reports/\(layout.report).json"))
            #expect(try JSONDecoder().decode(ReportLayout.self, from: data) == layout, "reports/\(layout.report).json")
        }
    }

    @Test func moneyReachesTheCellAsTheNearestDouble() {
        // 0.1 + 0.2 in binary floating point is 0.30000000000000004; 30 cents divided once is 0.3.
        #expect(Numbers.double(minorUnits: 30, decimals: 2) == 0.3)
        #expect(Numbers.double(minorUnits: -123_456_789_01, decimals: 2) == -123456789.01)
        #expect(Numbers.double(minorUnits: 1_230, decimals: 3) == 1.23)
        #expect(Numbers.double(d("0.0004")) == 0.0004)
        #expect(Numbers.text(minorUnits: -5, decimals: 2) == "-0.05")
        #expect(Numbers.text(minorUnits: 500, decimals: 0) == "500")
        #expect(Numbers.text(minorUnits: 1_230, decimals: 3) == "1.230")
        // 2026-05-01T00:00:00Z is day 46,143 after 1899-12-30; noon is half a day.
        #expect(Numbers.serialDate(t("2026-05-01T12:00:00Z")) == 46_143.5)
    }
}
