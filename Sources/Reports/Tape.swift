import Foundation

/// A workbook as a stream of libxlsxwriter calls in a compact binary form (a tape): the sheet
/// logic writes cells here, and `TapeReplayer` makes the calls. A live report hands the tape,
/// chunk by chunk, to a thread that replays it while the store is still being read; the
/// benchmark records it to a file and replays it with nothing of Tollbooth around libxlsxwriter.
///
/// Each call is an op byte and its operands (little-endian, unaligned); a string is its length
/// with a NUL, then its bytes and the NUL, so the replay passes a pointer into the tape. A
/// number format is defined by a `format` op before its first use and named by its id after
/// (0: none). Chunks end on a call's boundary.
enum TapeOp {
    static let sheet: UInt8 = 1, column: UInt8 = 2, freeze: UInt8 = 3, filter: UInt8 = 4, string: UInt8 = 5, number: UInt8 = 6,
               formula: UInt8 = 7, format: UInt8 = 8, chart: UInt8 = 9
}

final class TapeWriter {
    /// Takes each full chunk (and the last one at `flush`).
    private let sink: ([UInt8]) throws -> Void
    /// The chunk being written: raw memory written in place, since a million rows make a
    /// hundred million small writes.
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0
    private var formats: [(format: NumberFormat?, bold: Bool)] = [(nil, false)]
    private var sheets = 0

    static let chunkSize = 1 << 18

    init(sink: @escaping ([UInt8]) throws -> Void) {
        self.sink = sink
        capacity = TapeWriter.chunkSize + 4_096
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    private func reserve(_ bytes: Int) {
        guard count + bytes > capacity else { return }
        capacity = max(capacity * 2, count + bytes)
        let larger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        larger.copyMemory(from: buffer, byteCount: count)
        buffer.deallocate()
        buffer = larger
    }

    /// Starts a call, handing over the chunk first when it is full.
    func op(_ code: UInt8) throws {
        if count >= TapeWriter.chunkSize { try flush() }
        value(code)
    }

    func value<T>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        buffer.storeBytes(of: value, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    func string(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            value(UInt32(bytes.count + 1))
            reserve(bytes.count + 1)
            if let base = bytes.baseAddress { (buffer + count).copyMemory(from: base, byteCount: bytes.count) }
            count += bytes.count
            buffer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
            count += 1
        }
    }

    func addSheet(_ name: String) throws -> TapeSheet {
        try op(TapeOp.sheet)
        string(name)
        sheets += 1
        return TapeSheet(writer: self, index: UInt8(sheets - 1))
    }

    /// The id of a format, defined on the tape at its first use. Few formats per workbook: a
    /// list searched in order beats hashing on every cell.
    func format(_ format: NumberFormat?, bold: Bool) throws -> UInt8 {
        for index in formats.indices where formats[index].format == format && formats[index].bold == bold { return UInt8(index) }
        formats.append((format, bold))
        try op(TapeOp.format)
        value(UInt8(bold ? 1 : 0))
        string(format?.pattern ?? "")
        return UInt8(formats.count - 1)
    }

    func flush() throws {
        guard count > 0 else { return }
        let chunk = [UInt8](UnsafeRawBufferPointer(start: buffer, count: count))
        count = 0
        try sink(chunk)
    }
}

/// One sheet's calls on the tape.
final class TapeSheet: CellSink {
    private let writer: TapeWriter
    private let index: UInt8

    init(writer: TapeWriter, index: UInt8) {
        self.writer = writer
        self.index = index
    }

    private func cell(_ op: UInt8, _ row: UInt32, _ column: UInt16, _ format: UInt8) throws {
        try writer.op(op)
        writer.value(index)
        writer.value(row)
        writer.value(column)
        writer.value(format)
    }

    func string(_ row: UInt32, _ column: UInt16, _ text: String, bold: Bool) throws {
        let format = try writer.format(nil, bold: bold)
        try cell(TapeOp.string, row, column, format)
        writer.string(text)
    }

    func number(_ row: UInt32, _ column: UInt16, _ value: Double, _ format: NumberFormat?) throws {
        let id = try writer.format(format, bold: false)
        try cell(TapeOp.number, row, column, id)
        writer.value(value)
    }

    func formula(_ row: UInt32, _ column: UInt16, _ formula: String, _ value: Double, _ format: NumberFormat?) throws {
        let id = try writer.format(format, bold: false)
        try cell(TapeOp.formula, row, column, id)
        writer.value(value)
        writer.string(formula)
    }

    func column(_ column: UInt16, width: Double) throws {
        try writer.op(TapeOp.column)
        writer.value(index)
        writer.value(column)
        writer.value(width)
    }

    func freezeHeader() throws {
        try writer.op(TapeOp.freeze)
        writer.value(index)
    }

    func autofilter(lastRow: UInt32, lastColumn: UInt16) throws {
        try writer.op(TapeOp.filter)
        writer.value(index)
        writer.value(lastRow)
        writer.value(lastColumn)
    }

    func chart(categories: String, series: [(values: String, name: String)], titles: ChartTitles, row: UInt32, column: UInt16) throws {
        try writer.op(TapeOp.chart)
        writer.value(index)
        writer.value(row)
        writer.value(column)
        writer.string(titles.title)
        writer.string(titles.categories)
        writer.string(titles.values)
        writer.string(titles.categoryFormat ?? "")
        writer.string(categories)
        writer.value(UInt16(series.count))
        for entry in series {
            writer.string(entry.values)
            writer.string(entry.name)
        }
    }
}

/// Reads a tape's operands in place.
struct TapeReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var atEnd: Bool { offset >= bytes.count }

    mutating func next<T>(_: T.Type) throws -> T {
        guard offset + MemoryLayout<T>.size <= bytes.count else { throw ReportError(.writer, "the workbook tape ends inside a call") }
        defer { offset += MemoryLayout<T>.size }
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// A NUL-terminated string where it lies in the tape.
    mutating func string() throws -> UnsafePointer<CChar> {
        let count = Int(try next(UInt32.self))
        guard count > 0, offset + count <= bytes.count else { throw ReportError(.writer, "the workbook tape ends inside a string") }
        defer { offset += count }
        return bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self)
    }
}
