import Foundation
import Testing
import TestSupport
@testable import Billing
@testable import Reports
@testable import Store

/// The reconciliation workbook of the fixture (see `fixtureStore`), opened with openpyxl.
@Suite struct ReconciliationWorkbookTests {
    let folder: URL
    let store: SQLiteStore
    let workbook: ReadWorkbook

    init() throws {
        folder = try temporaryFolder()
        store = try fixtureStore(in: folder)
        let path = folder.appendingPathComponent("reconciliation.xlsx").path
        try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path)
        workbook = try ReadWorkbook(path: path)
    }

    /// A cell's number (or a formula's cached value) in minor units, to compare to the cent.
    func minor(_ cell: [String: Any]?, decimals: Int = 2) -> Int64? {
        guard let cell, let value = (cell["type"] as? String == "formula" ? cell["cached"] : cell["value"]) as? Double else { return nil }
        return Int64((value * pow(10, Double(decimals))).rounded())
    }

    func row(_ sheet: String, first: String) -> [[String: Any]?]? {
        workbook.rows(sheet).first { $0.first??["value"] as? String == first }
    }

    @Test func sheetsAndHeadersInPlainWordsInTheLayoutsOrder() {
        #expect(workbook.sheetNames == ["Summary", "Invoices", "Lines", "Usage", "Tax", "Credits", "Differences", "Failures"])
        for sheet in ReportLayout.reconciliation.sheets {
            #expect(workbook.header(sheet.name) == sheet.columns.map(\.title), "\(sheet.name)")
            let json = workbook.sheet(sheet.name)
            #expect(json?["freeze"] as? String == "A2", "\(sheet.name): frozen header row")
            #expect((json?["filter"] as? String)?.hasPrefix("A1:") == true, "\(sheet.name): autofilter")
            let widths = json?["widths"] as? [String: Double] ?? [:]
            // Spreadsheets store a width with the cell padding added.
            #expect(widths.count == sheet.columns.count && (widths["A"] ?? 0) >= sheet.columns[0].width, "\(sheet.name): column widths")
        }
    }

    @Test func numbersAreNumbersWithTheCurrencysFormatAndDatesAreDates() throws {
        let acme = try #require(row("Invoices", first: "inv_acme_20260501"))
        #expect(acme[2]?["type"] as? String == "date")
        #expect(acme[2]?["value"] as? String == "2026-05-01T00:00:00")
        #expect(acme[7]?["type"] as? String == "number")
        #expect(acme[7]?["format"] as? String == "#,##0.00 \"USD\"")
        #expect(minor(acme[7]) == 2801)
        #expect(acme[14]?["value"] as? String == "2026-05-03T12:30:00", "paid at")
        let umbrella = try #require(row("Invoices", first: "inv_umbrella_20260501"))
        // JPY has no decimals.
        #expect(umbrella[9]?["format"] as? String == "#,##0 \"JPY\"")
        #expect(minor(umbrella[9], decimals: 0) == 4000)
        // Stripe's total from the reconciliation's difference: 4100 - 4000 = 100.
        #expect(minor(umbrella[12], decimals: 0) == 4100)
        #expect(minor(umbrella[13], decimals: 0) == 100)

        let usage = try #require(workbook.rows("Lines").first { $0[5]?["value"] as? String == "usage" && $0[1]?["value"] as? String == "acme" })
        #expect(usage[9]?["type"] as? String == "number" && usage[9]?["value"] as? Double == 5, "quantity")
        #expect(usage[10]?["value"] as? Double == 0.002, "unit price: 0.01 / 5")
        #expect(usage[11]?["value"] as? String == "5 x 0.002", "tier detail")
        #expect(usage[12]?["type"] as? String == "date")
        let tax = try #require(row("Tax", first: "US"))
        #expect(tax[3]?["value"] as? Double == 0.0725 && tax[3]?["format"] as? String == "0.00%")
    }

    @Test func summaryTotalsAgreeWithTheStoreToTheCent() throws {
        // USD, void April left out: subtotals May 29.00 + 0.01 - 1.00 = 28.01, June 29.00 -> 57.01;
        // tax 2.10 + 2.10 = 4.20; total 61.21; paid May 30.11; failed June 31.10.
        let usd = try #require(row("Summary", first: "USD"))
        #expect(usd[1]?["cached"] as? Double == 2)
        #expect(minor(usd[2]) == 5701)
        #expect(minor(usd[3]) == 420)
        #expect(minor(usd[4]) == 6121)
        #expect(minor(usd[5]) == 3011)
        #expect(minor(usd[6]) == 0)
        #expect(minor(usd[7]) == 0)
        #expect(minor(usd[8]) == 3110)
        // The carried balance is explained; the orphan has no currency.
        #expect(usd[9]?["cached"] as? Double == 0)
        // JPY: 4000 outstanding, one unexplained difference (the total).
        let jpy = try #require(row("Summary", first: "JPY"))
        #expect(minor(jpy[4], decimals: 0) == 4000)
        #expect(minor(jpy[6], decimals: 0) == 4000)
        #expect(jpy[9]?["cached"] as? Double == 1)

        // The same sums from the store's own invoices, void left out.
        var totals: [String: Decimal] = [:]
        for invoice in try store.invoices(billDateFrom: rangeStart, to: rangeEnd, withLines: false) where invoice.status != .void {
            totals[invoice.currency.code, default: 0] += invoice.total
        }
        #expect(Money(totals["USD"]!, .usd).minorUnits == minor(usd[4]))
        #expect(Money(totals["JPY"]!, .jpy).minorUnits == minor(jpy[4], decimals: 0))
    }

    @Test func totalsRowsAreSumFormulasOverTheDataRows() throws {
        // Invoices: 4 in the range, rows 2 to 5.
        let usd = try #require(row("Invoices", first: "Total USD"))
        #expect(usd[9]?["formula"] as? String == #"=SUMIFS($J$2:$J$5,$F$2:$F$5,"USD",$G$2:$G$5,"<>void")"#)
        #expect(minor(usd[9]) == 6121)
        #expect(workbook.sheet("Invoices")?["filter"] as? String == "A1:P5", "the autofilter stops above the totals")
        // Lines: 1 + 3 + 2 + 1 = 7 lines, rows 2 to 8; amounts 28.01 + 29.00 = 57.01.
        let lines = try #require(row("Lines", first: "Total USD"))
        #expect(lines[14]?["formula"] as? String == #"=SUMIFS($O$2:$O$8,$D$2:$D$8,"USD",$E$2:$E$8,"<>void")"#)
        #expect(minor(lines[14]) == 5701)
        let jpyLines = try #require(row("Lines", first: "Total JPY"))
        #expect(minor(jpyLines[14], decimals: 0) == 4000)
        // The summary's total is a formula over the Invoices sheet.
        let summary = try #require(row("Summary", first: "USD"))
        #expect(summary[4]?["formula"] as? String
                == #"=SUMIFS('Invoices'!$J$2:$J$5,'Invoices'!$F$2:$F$5,"USD",'Invoices'!$G$2:$G$5,"<>void")"#)
        // Usage: 0.01 USD billed for acme's 5 requests.
        let usage = try #require(row("Usage", first: "Total USD"))
        #expect(minor(usage[5]) == 1)
    }

    @Test func usageCreditsDifferencesAndFailures() throws {
        let acme = try #require(row("Usage", first: "acme"))
        #expect(acme[2]?["value"] as? String == "api_requests")
        #expect(acme[4]?["value"] as? Double == 5 && minor(acme[5]) == 1)
        let umbrella = try #require(row("Usage", first: "umbrella"))
        #expect(umbrella[4]?["value"] as? Double == 500 && minor(umbrella[5], decimals: 0) == 1000)

        let credit = try #require(row("Credits", first: "acme"))
        #expect(minor(credit[2]) == -500 && credit[4]?["type"] as? String == "date")

        let differences = workbook.rows("Differences").dropFirst()
        #expect(differences.map { $0[4]?["value"] as? String } == ["total", "carried_balance", "orphan"])
        #expect(differences.map { $0[7]?["value"] as? String } == ["no", "yes", "no"])

        let failure = try #require(row("Failures", first: "inv_acme_20260601"))
        #expect(failure[6]?["value"] as? String == "Stripe answered 500: try again later")
        #expect(failure[8]?["value"] as? String == "tollbooth rerun inv_acme_20260601")
        #expect(minor(failure[4]) == 3110)
    }

    @Test func summaryChartsBilledRevenuePerPlanPerBillDate() throws {
        let chart = try #require(workbook.charts.first)
        #expect(chart["kinds"] as? [String] == ["barChart"])
        let references = chart["references"] as? [String] ?? []
        #expect(references.allSatisfy { $0.hasPrefix("'Summary'!") })
        // The table the chart draws: a date per bill date, a column per plan.
        let header = try #require(workbook.rows("Summary").first { $0.first??["value"] as? String == "Bill date" })
        #expect(header.compactMap { $0?["value"] as? String } == ["Bill date", "no plan (USD)", "starter (USD)", "starter_jp (JPY)"])
        let may = try #require(workbook.rows("Summary").first { $0.first??["value"] as? String == "2026-05-01T00:00:00" })
        // May: the adjustment -1.00 has no plan; starter 29.00 + 0.01; starter_jp 3000 + 1000.
        #expect(minor(may[1]) == -100 && minor(may[2]) == 2901 && minor(may[3], decimals: 0) == 4000)
    }
}
