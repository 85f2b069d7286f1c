internal import CXLSXWriter
import Billing
import Foundation

/// A workbook written by libxlsxwriter in constant-memory mode: each sheet keeps one row in
/// memory and streams the rest to a temporary file, so rows go in order and nothing written can
/// be revisited (totals are formulas written after the data). The file is made under a
/// temporary name and renamed into place by `finish`.
final class XLSXOutput: ReportOutput {
    private var workbook: UnsafeMutablePointer<lxw_workbook>?
    private let file: PendingFile
    private var sheets: [XLSXSheet] = []
    private var formats: [String: UnsafeMutablePointer<lxw_format>] = [:]

    /// Spreadsheets hold 1,048,576 rows a sheet.
    static let maxRows = 1_048_576

    init(path: String) throws {
        file = try PendingFile(target: path)
        // The options struct grew fields across libxlsxwriter versions: start from zeroes and
        // set only the ones this code knows.
        var options = lxw_workbook_options()
        options.constant_memory = UInt8(LXW_TRUE.rawValue)
        guard let workbook = workbook_new_opt(file.temporary, &options) else {
            file.discard()
            throw ReportError("cannot start the workbook \(path)")
        }
        self.workbook = workbook
    }

    deinit { if workbook != nil { discard() } }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        guard let workbook, let handle = workbook_add_worksheet(workbook, layout.name) else {
            throw ReportError("cannot add the sheet \(layout.name)")
        }
        let sheet = try XLSXSheet(output: self, workbook: workbook, handle: handle, layout: layout)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        guard let workbook else { return }
        for sheet in sheets { sheet.finish() }
        self.workbook = nil
        let status = workbook_close(workbook)
        guard status == LXW_NO_ERROR else {
            file.discard()
            throw ReportError("cannot write \(file.target): \(String(cString: lxw_strerror(status)))")
        }
        try file.commit()
    }

    func discard() {
        if let workbook { lxw_workbook_free(workbook) }
        workbook = nil
        file.discard()
    }

    /// One format per number format (and boldness), shared by every cell that uses it.
    func format(_ numberFormat: String?, bold: Bool = false) -> UnsafeMutablePointer<lxw_format>? {
        let key = (bold ? "b:" : "") + (numberFormat ?? "")
        if let format = formats[key] { return format }
        guard let workbook, let format = workbook_add_format(workbook) else { return nil }
        if let numberFormat { format_set_num_format(format, numberFormat) }
        if bold { format_set_bold(format) }
        formats[key] = format
        return format
    }

    /// `#,##0.00 "USD"`: the currency's decimals (none for JPY) and its code, so a number keeps
    /// its currency wherever it is copied.
    func moneyFormat(_ currency: Currency) -> UnsafeMutablePointer<lxw_format>? {
        let decimals = currency.minorUnits > 0 ? "." + String(repeating: "0", count: currency.minorUnits) : ""
        return format("#,##0\(decimals) \"\(currency.code)\"")
    }

    var dateFormat: UnsafeMutablePointer<lxw_format>? { format("yyyy-mm-dd hh:mm") }
    var percentFormat: UnsafeMutablePointer<lxw_format>? { format("0.00%") }

    func addChart() -> UnsafeMutablePointer<lxw_chart>? {
        workbook.flatMap { workbook_add_chart($0, UInt8(LXW_CHART_COLUMN.rawValue)) }
    }
}

final class XLSXSheet: SheetOutput {
    private unowned let output: XLSXOutput
    private let handle: UnsafeMutablePointer<lxw_worksheet>
    private let layout: SheetLayout
    private var nextRow: UInt32 = 1
    private(set) var dataRows = 0
    private var filtered = false

    init(output: XLSXOutput, workbook: UnsafeMutablePointer<lxw_workbook>, handle: UnsafeMutablePointer<lxw_worksheet>,
         layout: SheetLayout) throws {
        self.output = output
        self.handle = handle
        self.layout = layout
        for (index, column) in layout.columns.enumerated() {
            worksheet_set_column(handle, lxw_col_t(index), lxw_col_t(index), column.width, nil)
            try check(worksheet_write_string(handle, 0, lxw_col_t(index), column.title, output.format(nil, bold: true)))
        }
        worksheet_freeze_panes(handle, 1, 0)
    }

    func row(_ cells: [Cell]) throws {
        guard Int(nextRow) < XLSXOutput.maxRows else {
            throw ReportError("the \(layout.name) sheet would pass the 1,048,576 rows a spreadsheet holds: choose a shorter --from/--to range", isInput: true)
        }
        try write(cells, bold: false)
        dataRows += 1
    }

    func totals(_ rows: [[Cell]]) throws {
        filter()
        nextRow += 1
        for row in rows { try write(row, bold: true) }
    }

    func note(_ text: String) throws {
        filter()
        nextRow += 1
        try check(worksheet_write_string(handle, nextRow, 0, text, nil))
        nextRow += 1
    }

    /// The revenue table under what is written so far, and a column chart of it beside the sheet's table.
    func chart(_ chart: RevenueChart) throws {
        guard !chart.rows.isEmpty, !chart.series.isEmpty else { return }
        filter()
        nextRow += 1
        let headerRow = nextRow
        try write([.text("Bill date")] + chart.series.map { .text($0.name) }, bold: true)
        let first = nextRow
        for row in chart.rows {
            try write([.date(row.billDate)] + zip(row.amounts, chart.series).map { amount, series in
                amount.map { .money($0, series.currency) } ?? .empty
            }, bold: false)
        }
        let last = nextRow - 1
        guard let plot = output.addChart() else { throw ReportError("cannot add the chart") }
        let sheet = "'" + layout.name.replacingOccurrences(of: "'", with: "''") + "'"
        for index in chart.series.indices {
            let column = Formula.columnName(index + 1)
            let series = chart_add_series(plot, "=\(sheet)!$A$\(first + 1):$A$\(last + 1)",
                                          "=\(sheet)!$\(column)$\(first + 1):$\(column)$\(last + 1)")
            chart_series_set_name(series, "=\(sheet)!$\(column)$\(headerRow + 1)")
        }
        chart_title_set_name(plot, "Billed revenue per plan per bill date")
        chart_axis_set_name(plot.pointee.x_axis, "Bill date")
        chart_axis_set_num_format(plot.pointee.x_axis, "yyyy-mm-dd")
        chart_axis_set_name(plot.pointee.y_axis, "Billed (before tax)")
        try check(worksheet_insert_chart(handle, 1, lxw_col_t(layout.columns.count + 1), plot))
    }

    /// The autofilter covers the header and the data rows, not the totals under them.
    private func filter() {
        guard !filtered else { return }
        filtered = true
        worksheet_autofilter(handle, 0, 0, lxw_row_t(dataRows), lxw_col_t(layout.columns.count - 1))
    }

    func finish() { filter() }

    private func write(_ cells: [Cell], bold: Bool) throws {
        for (index, cell) in cells.enumerated() {
            try write(cell, column: lxw_col_t(index), bold: bold)
        }
        nextRow += 1
    }

    private func write(_ cell: Cell, column: lxw_col_t, bold: Bool) throws {
        let row = nextRow
        switch cell {
        case .text(let value):
            try check(worksheet_write_string(handle, row, column, value, bold ? output.format(nil, bold: true) : nil))
        case .empty:
            return
        case .formula(let formula, let cached):
            try check(worksheet_write_formula_num(handle, row, column, formula, format(of: cached), number(cached)))
        case .integer, .money, .decimal, .percent, .date:
            try check(worksheet_write_number(handle, row, column, number(cell), format(of: cell)))
        }
    }

    private func number(_ cell: Cell) -> Double {
        switch cell {
        case .integer(let value): return Double(value)
        case .money(let value, let currency): return Numbers.double(minorUnits: value, decimals: currency.minorUnits)
        case .decimal(let value), .percent(let value): return Numbers.double(value)
        case .date(let value): return Numbers.serialDate(value)
        case .text, .empty: return 0
        case .formula(_, let cached): return number(cached)
        }
    }

    private func format(of cell: Cell) -> UnsafeMutablePointer<lxw_format>? {
        switch cell {
        case .money(_, let currency): return output.moneyFormat(currency)
        case .percent: return output.percentFormat
        case .date: return output.dateFormat
        case .integer, .decimal, .text, .empty: return nil
        case .formula(_, let cached): return format(of: cached)
        }
    }

    private func check(_ status: lxw_error) throws {
        guard status == LXW_NO_ERROR else {
            throw ReportError("cannot write row \(nextRow + 1) of the \(layout.name) sheet: \(String(cString: lxw_strerror(status)))")
        }
    }
}
