internal import CXLSXWriter
import Foundation

/// A workbook written by libxlsxwriter in constant-memory mode: each sheet keeps one row in
/// memory and streams the rest to a temporary file, so rows go in order and nothing written can
/// be revisited (totals are formulas written after the data). The file is made under a
/// temporary name and renamed into place by `finish`.
final class XLSXOutput: ReportOutput {
    private let workbook: LibXLSXWorkbook
    private let file: PendingFile
    private var sheets: [WorkbookSheet<LibXLSXSheet>] = []

    init(path: String) throws {
        file = try PendingFile(target: path)
        do { workbook = try LibXLSXWorkbook(path: file.temporary) } catch {
            file.discard()
            throw error
        }
    }

    deinit { workbook.free() }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        let sheet = try WorkbookSheet(sink: try workbook.addSheet(layout.name), layout: layout)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        for sheet in sheets { sheet.finish() }
        do { try workbook.close() } catch {
            file.discard()
            throw ReportError("cannot write \(file.target): \(error)")
        }
        try file.commit()
    }

    func discard() {
        workbook.free()
        file.discard()
    }
}

/// The libxlsxwriter workbook handle and the formats its cells share.
final class LibXLSXWorkbook {
    private(set) var handle: UnsafeMutablePointer<lxw_workbook>?
    /// Few formats per workbook: a list searched in order beats hashing on every cell.
    private var formats: [(format: NumberFormat?, bold: Bool, handle: UnsafeMutablePointer<lxw_format>?)] = []

    init(path: String) throws {
        // The options struct grew fields across libxlsxwriter versions: start from zeroes and
        // set only the ones this code knows.
        var options = lxw_workbook_options()
        options.constant_memory = UInt8(LXW_TRUE.rawValue)
        guard let handle = workbook_new_opt(path, &options) else { throw ReportError("cannot start a workbook at \(path)") }
        self.handle = handle
    }

    func addSheet(_ name: String) throws -> LibXLSXSheet {
        guard let handle, let sheet = workbook_add_worksheet(handle, name) else { throw ReportError("cannot add the sheet \(name)") }
        return LibXLSXSheet(workbook: self, handle: sheet, name: name)
    }

    func format(_ format: NumberFormat?, bold: Bool) -> UnsafeMutablePointer<lxw_format>? {
        for entry in formats where entry.format == format && entry.bold == bold { return entry.handle }
        guard let handle else { return nil }
        let made = workbook_add_format(handle)
        if let format { format_set_num_format(made, format.pattern) }
        if bold { format_set_bold(made) }
        formats.append((format, bold, made))
        return made
    }

    /// Writes the file; the handle is gone afterwards, whatever happened.
    func close() throws {
        guard let handle else { return }
        self.handle = nil
        let status = workbook_close(handle)
        guard status == LXW_NO_ERROR else { throw ReportError(String(cString: lxw_strerror(status))) }
    }

    /// Drops the workbook without writing it (its temporary files go with it).
    func free() {
        if let handle { lxw_workbook_free(handle) }
        handle = nil
    }
}

final class LibXLSXSheet: CellSink {
    private unowned let workbook: LibXLSXWorkbook
    private let handle: UnsafeMutablePointer<lxw_worksheet>
    private let name: String

    init(workbook: LibXLSXWorkbook, handle: UnsafeMutablePointer<lxw_worksheet>, name: String) {
        self.workbook = workbook
        self.handle = handle
        self.name = name
    }

    func string(_ row: UInt32, _ column: UInt16, _ text: String, bold: Bool) throws {
        try check(worksheet_write_string(handle, row, column, text, bold ? workbook.format(nil, bold: true) : nil), row)
    }

    func number(_ row: UInt32, _ column: UInt16, _ value: Double, _ format: NumberFormat?) throws {
        try check(worksheet_write_number(handle, row, column, value, format.flatMap { workbook.format($0, bold: false) }), row)
    }

    func formula(_ row: UInt32, _ column: UInt16, _ formula: String, _ value: Double, _ format: NumberFormat?) throws {
        try check(worksheet_write_formula_num(handle, row, column, formula, format.flatMap { workbook.format($0, bold: false) }, value), row)
    }

    func column(_ column: UInt16, width: Double) {
        worksheet_set_column(handle, column, column, width, nil)
    }

    func freezeHeader() {
        worksheet_freeze_panes(handle, 1, 0)
    }

    func autofilter(lastRow: UInt32, lastColumn: UInt16) {
        worksheet_autofilter(handle, 0, 0, lastRow, lastColumn)
    }

    func chart(categories: String, series: [(values: String, name: String)], row: UInt32, column: UInt16) throws {
        guard let book = workbook.handle, let chart = workbook_add_chart(book, UInt8(LXW_CHART_COLUMN.rawValue)) else {
            throw ReportError("cannot add the chart to the \(name) sheet")
        }
        for entry in series {
            let added = chart_add_series(chart, categories, entry.values)
            chart_series_set_name(added, entry.name)
        }
        chart_title_set_name(chart, "Billed revenue per plan per bill date")
        chart_axis_set_name(chart.pointee.x_axis, "Bill date")
        chart_axis_set_num_format(chart.pointee.x_axis, "yyyy-mm-dd")
        chart_axis_set_name(chart.pointee.y_axis, "Billed (before tax)")
        try check(worksheet_insert_chart(handle, row, column, chart), row)
    }

    private func check(_ status: lxw_error, _ row: UInt32) throws {
        guard status == LXW_NO_ERROR else {
            throw ReportError("cannot write row \(row + 1) of the \(name) sheet: \(String(cString: lxw_strerror(status)))")
        }
    }
}
