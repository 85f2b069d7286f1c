internal import CXLSXWriter
import Foundation

/// Makes a tape's calls through libxlsxwriter's C API, into a workbook in constant-memory mode:
/// each sheet keeps one row in memory and streams the rest to a temporary file, so rows go in
/// order and nothing written is revisited. Strings go to libxlsxwriter as pointers into the tape.
final class TapeReplayer {
    private var workbook: UnsafeMutablePointer<lxw_workbook>?
    private var sheets: [(handle: UnsafeMutablePointer<lxw_worksheet>, name: String)] = []
    private var formats: [UnsafeMutablePointer<lxw_format>?] = [nil]

    init(path: String) throws {
        // The options struct grew fields across libxlsxwriter versions: start from zeroes and
        // set only the ones this code knows.
        var options = lxw_workbook_options()
        options.constant_memory = UInt8(LXW_TRUE.rawValue)
        guard let workbook = workbook_new_opt(path, &options) else { throw ReportError(.writer, "cannot start a workbook at \(path)") }
        self.workbook = workbook
    }

    deinit { free() }

    /// Makes the calls of one chunk of tape (whole calls only).
    func replay(_ bytes: UnsafeRawBufferPointer) throws {
        guard let workbook else { throw ReportError(.writer, "the workbook is already closed") }
        var reader = TapeReader(bytes: bytes)
        while !reader.atEnd {
            let op = try reader.next(UInt8.self)
            switch op {
            case TapeOp.sheet:
                let name = try reader.string()
                guard let sheet = workbook_add_worksheet(workbook, name) else { throw ReportError(.writer, "cannot add the sheet \(String(cString: name))") }
                sheets.append((sheet, String(cString: name)))
            case TapeOp.column:
                let sheet = try self.sheet(&reader), column = try reader.next(UInt16.self)
                worksheet_set_column(sheet.handle, column, column, try reader.next(Double.self), nil)
            case TapeOp.freeze:
                worksheet_freeze_panes(try self.sheet(&reader).handle, 1, 0)
            case TapeOp.filter:
                let sheet = try self.sheet(&reader), row = try reader.next(UInt32.self)
                worksheet_autofilter(sheet.handle, 0, 0, row, try reader.next(UInt16.self))
            case TapeOp.string:
                let (sheet, row, column, format) = try cell(&reader)
                try check(worksheet_write_string(sheet.handle, row, column, try reader.string(), format), sheet.name, row)
            case TapeOp.number:
                let (sheet, row, column, format) = try cell(&reader)
                try check(worksheet_write_number(sheet.handle, row, column, try reader.next(Double.self), format), sheet.name, row)
            case TapeOp.formula:
                let (sheet, row, column, format) = try cell(&reader)
                let value = try reader.next(Double.self)
                try check(worksheet_write_formula_num(sheet.handle, row, column, try reader.string(), format, value), sheet.name, row)
            case TapeOp.format:
                let bold = try reader.next(UInt8.self) == 1, pattern = try reader.string()
                let format = workbook_add_format(workbook)
                if pattern.pointee != 0 { format_set_num_format(format, pattern) }
                if bold { format_set_bold(format) }
                formats.append(format)
            case TapeOp.chart:
                let sheet = try self.sheet(&reader), row = try reader.next(UInt32.self), column = try reader.next(UInt16.self)
                guard let chart = workbook_add_chart(workbook, UInt8(LXW_CHART_COLUMN.rawValue)) else {
                    throw ReportError(.writer, "cannot add the chart to the \(sheet.name) sheet")
                }
                chart_title_set_name(chart, try reader.string())
                chart_axis_set_name(chart.pointee.x_axis, try reader.string())
                chart_axis_set_name(chart.pointee.y_axis, try reader.string())
                let categoryFormat = try reader.string()
                if categoryFormat.pointee != 0 { chart_axis_set_num_format(chart.pointee.x_axis, categoryFormat) }
                let categories = try reader.string()
                for _ in 0..<Int(try reader.next(UInt16.self)) {
                    let series = chart_add_series(chart, categories, try reader.string())
                    chart_series_set_name(series, try reader.string())
                }
                try check(worksheet_insert_chart(sheet.handle, row, column, chart), sheet.name, row)
            default:
                throw ReportError(.writer, "not a workbook tape: call \(op) at byte \(reader.offset - 1)")
            }
        }
    }

    /// Writes the file; the workbook is gone afterwards, whatever happened.
    func close() throws {
        guard let workbook else { return }
        self.workbook = nil
        let status = workbook_close(workbook)
        guard status == LXW_NO_ERROR else { throw ReportError(.writer, String(cString: lxw_strerror(status))) }
    }

    /// Drops the workbook without writing it (its temporary files go with it).
    func free() {
        if let workbook { lxw_workbook_free(workbook) }
        workbook = nil
    }

    private func sheet(_ reader: inout TapeReader) throws -> (handle: UnsafeMutablePointer<lxw_worksheet>, name: String) {
        let index = Int(try reader.next(UInt8.self))
        guard index < sheets.count else { throw ReportError(.writer, "the workbook tape names sheet \(index) before adding it") }
        return sheets[index]
    }

    private func cell(_ reader: inout TapeReader)
        throws -> ((handle: UnsafeMutablePointer<lxw_worksheet>, name: String), UInt32, UInt16, UnsafeMutablePointer<lxw_format>?) {
        let sheet = try self.sheet(&reader), row = try reader.next(UInt32.self), column = try reader.next(UInt16.self)
        let format = Int(try reader.next(UInt8.self))
        guard format < formats.count else { throw ReportError(.writer, "the workbook tape uses format \(format) before defining it") }
        return (sheet, row, column, formats[format])
    }

    private func check(_ status: lxw_error, _ sheet: String, _ row: UInt32) throws {
        guard status == LXW_NO_ERROR else {
            throw ReportError(.writer, "cannot write row \(row + 1) of the \(sheet) sheet: \(String(cString: lxw_strerror(status)))")
        }
    }
}
