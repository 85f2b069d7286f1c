internal import CXLSXWriter
import Billing
import Foundation
import Store

/// The workbook benchmark's peer: libxlsxwriter writing exactly the cells `report
/// reconciliation` writes, with nothing of Tollbooth around it. `record` runs the report with a
/// sink that writes every libxlsxwriter call it would make to a file (a tape); `replay` makes
/// those calls straight from the tape through the C API (strings are passed as pointers into the
/// mapped tape), so the two runs write the same cells, formats, formulas and chart.
public enum XLSXBenchmark {
    public static func record(store: Store, from: Instant, to: Instant, tape path: String) throws {
        let output = try TapeOutput(path: path)
        try ReportBuilder(store: store, from: from, to: to).reconciliation(output)
        try output.finish()
    }

    /// Writes the workbook the tape describes to `out`; returns the seconds the writing took.
    public static func replay(tape path: String, out: String) throws -> Double {
        let tape = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let started = DispatchTime.now().uptimeNanoseconds
        var options = lxw_workbook_options()
        options.constant_memory = UInt8(LXW_TRUE.rawValue)
        guard let workbook = workbook_new_opt(out, &options) else { throw ReportError("cannot start a workbook at \(out)") }
        var sheets: [UnsafeMutablePointer<lxw_worksheet>?] = []
        var formats: [UnsafeMutablePointer<lxw_format>?] = [nil]
        try tape.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var reader = TapeReader(bytes: bytes)
            while let op = reader.next(UInt8.self) {
                switch op {
                case TapeOp.sheet:
                    sheets.append(workbook_add_worksheet(workbook, reader.string()))
                case TapeOp.column:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], column = reader.next(UInt16.self)!
                    worksheet_set_column(sheet, column, column, reader.next(Double.self)!, nil)
                case TapeOp.freeze:
                    worksheet_freeze_panes(sheets[Int(reader.next(UInt8.self)!)], 1, 0)
                case TapeOp.filter:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], row = reader.next(UInt32.self)!
                    worksheet_autofilter(sheet, 0, 0, row, reader.next(UInt16.self)!)
                case TapeOp.string:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], row = reader.next(UInt32.self)!, column = reader.next(UInt16.self)!
                    let format = formats[Int(reader.next(UInt8.self)!)]
                    worksheet_write_string(sheet, row, column, reader.string(), format)
                case TapeOp.number:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], row = reader.next(UInt32.self)!, column = reader.next(UInt16.self)!
                    let format = formats[Int(reader.next(UInt8.self)!)]
                    worksheet_write_number(sheet, row, column, reader.next(Double.self)!, format)
                case TapeOp.formula:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], row = reader.next(UInt32.self)!, column = reader.next(UInt16.self)!
                    let format = formats[Int(reader.next(UInt8.self)!)], value = reader.next(Double.self)!
                    worksheet_write_formula_num(sheet, row, column, reader.string(), format, value)
                case TapeOp.format:
                    let bold = reader.next(UInt8.self)! == 1, pattern = reader.string()
                    let format = workbook_add_format(workbook)
                    if pattern.pointee != 0 { format_set_num_format(format, pattern) }
                    if bold { format_set_bold(format) }
                    formats.append(format)
                case TapeOp.chart:
                    let sheet = sheets[Int(reader.next(UInt8.self)!)], row = reader.next(UInt32.self)!, column = reader.next(UInt16.self)!
                    let chart = workbook_add_chart(workbook, UInt8(LXW_CHART_COLUMN.rawValue))
                    let categories = reader.string()
                    for _ in 0..<Int(reader.next(UInt16.self)!) {
                        let series = chart_add_series(chart, categories, reader.string())
                        chart_series_set_name(series, reader.string())
                    }
                    chart_title_set_name(chart, "Billed revenue per plan per bill date")
                    chart_axis_set_name(chart?.pointee.x_axis, "Bill date")
                    chart_axis_set_num_format(chart?.pointee.x_axis, "yyyy-mm-dd")
                    chart_axis_set_name(chart?.pointee.y_axis, "Billed (before tax)")
                    worksheet_insert_chart(sheet, row, column, chart)
                default:
                    lxw_workbook_free(workbook)
                    throw ReportError("\(path) is not a workbook tape")
                }
            }
        }
        let status = workbook_close(workbook)
        guard status == LXW_NO_ERROR else { throw ReportError("cannot write \(out): \(String(cString: lxw_strerror(status)))") }
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }
}

enum TapeOp {
    static let sheet: UInt8 = 1, column: UInt8 = 2, freeze: UInt8 = 3, filter: UInt8 = 4, string: UInt8 = 5, number: UInt8 = 6,
               formula: UInt8 = 7, format: UInt8 = 8, chart: UInt8 = 9
}

struct TapeReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    mutating func next<T>(_: T.Type) -> T? {
        guard offset + MemoryLayout<T>.size <= bytes.count else { return nil }
        defer { offset += MemoryLayout<T>.size }
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// A NUL-terminated string in place: its length (with the NUL), then its bytes.
    mutating func string() -> UnsafePointer<CChar> {
        let count = Int(next(UInt32.self)!)
        defer { offset += count }
        return bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
    }
}

/// The report written to a tape instead of a workbook.
final class TapeOutput: ReportOutput {
    private let writer: TapeWriter
    private var sheets: [WorkbookSheet<TapeSheet>] = []

    init(path: String) throws {
        writer = try TapeWriter(path: path)
    }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        writer.op(TapeOp.sheet)
        writer.string(layout.name)
        let sheet = try WorkbookSheet(sink: TapeSheet(writer: writer, index: UInt8(sheets.count)), layout: layout)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        for sheet in sheets { sheet.finish() }
        try writer.close()
    }

    func discard() { try? writer.close() }
}

final class TapeWriter {
    private let stream: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8] = []
    private var formats: [(format: NumberFormat?, bold: Bool)] = [(nil, false)]

    init(path: String) throws {
        guard let stream = fopen(path, "w") else { throw ReportError("cannot write \(path): \(String(cString: strerror(errno)))", isInput: true) }
        self.stream = stream
        buffer.reserveCapacity(1 << 20)
    }

    func op(_ code: UInt8) {
        if buffer.count > 1 << 20 { flush() }
        buffer.append(code)
    }

    func value<T>(_ value: T) {
        withUnsafeBytes(of: value) { buffer.append(contentsOf: $0) }
    }

    func string(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            value(UInt32(bytes.count + 1))
            buffer.append(contentsOf: bytes)
            buffer.append(0)
        }
    }

    /// The id of a format, defined on the tape at its first use (0: none).
    func format(_ format: NumberFormat?, bold: Bool) -> UInt8 {
        if format == nil, !bold { return 0 }
        if let index = formats.firstIndex(where: { $0.format == format && $0.bold == bold }) { return UInt8(index) }
        formats.append((format, bold))
        op(TapeOp.format)
        value(UInt8(bold ? 1 : 0))
        string(format?.pattern ?? "")
        return UInt8(formats.count - 1)
    }

    func flush() {
        buffer.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, stream) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        guard fclose(stream) == 0 else { throw ReportError("cannot write the tape: \(String(cString: strerror(errno)))") }
    }
}

final class TapeSheet: CellSink {
    private let writer: TapeWriter
    private let index: UInt8

    init(writer: TapeWriter, index: UInt8) {
        self.writer = writer
        self.index = index
    }

    private func cell(_ op: UInt8, _ row: UInt32, _ column: UInt16, _ format: UInt8) {
        writer.op(op)
        writer.value(index)
        writer.value(row)
        writer.value(column)
        writer.value(format)
    }

    func string(_ row: UInt32, _ column: UInt16, _ text: String, bold: Bool) throws {
        let format = writer.format(nil, bold: bold)
        cell(TapeOp.string, row, column, format)
        writer.string(text)
    }

    func number(_ row: UInt32, _ column: UInt16, _ value: Double, _ format: NumberFormat?) throws {
        let id = writer.format(format, bold: false)
        cell(TapeOp.number, row, column, id)
        writer.value(value)
    }

    func formula(_ row: UInt32, _ column: UInt16, _ formula: String, _ value: Double, _ format: NumberFormat?) throws {
        let id = writer.format(format, bold: false)
        cell(TapeOp.formula, row, column, id)
        writer.value(value)
        writer.string(formula)
    }

    func column(_ column: UInt16, width: Double) {
        writer.op(TapeOp.column)
        writer.value(index)
        writer.value(column)
        writer.value(width)
    }

    func freezeHeader() {
        writer.op(TapeOp.freeze)
        writer.value(index)
    }

    func autofilter(lastRow: UInt32, lastColumn: UInt16) {
        writer.op(TapeOp.filter)
        writer.value(index)
        writer.value(lastRow)
        writer.value(lastColumn)
    }

    func chart(categories: String, series: [(values: String, name: String)], row: UInt32, column: UInt16) throws {
        writer.op(TapeOp.chart)
        writer.value(index)
        writer.value(row)
        writer.value(column)
        writer.string(categories)
        writer.value(UInt16(series.count))
        for entry in series {
            writer.string(entry.values)
            writer.string(entry.name)
        }
    }
}
