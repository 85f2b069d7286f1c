import Billing
import Foundation

/// Where a report's sheets go: a workbook of every sheet, or the CSV of one.
protocol ReportOutput: AnyObject {
    /// The next sheet, in workbook order.
    func sheet(_ layout: SheetLayout) throws -> any SheetOutput
    /// Completes the file and moves it into place.
    func finish() throws
    /// Removes everything written; nothing is left at the target path.
    func discard()
}

/// One sheet: a header row (written when it is made), data rows in order, then what only a
/// workbook shows (totals, notes, a chart).
protocol SheetOutput: AnyObject {
    /// Data rows written so far: totals formulas cover rows 2 to 1 + this.
    var dataRows: Int { get }
    func row(_ cells: [Cell]) throws
    /// Rows under the data, after a blank row, outside the autofilter.
    func totals(_ rows: [[Cell]]) throws
    /// A line of text under the table.
    func note(_ text: String) throws
    func chart(_ chart: SheetChart) throws
    /// A column chart of the data rows themselves: the first column the categories, each
    /// other column a series.
    func chartOfRows(_ titles: ChartTitles) throws
}

/// A column chart and the table it draws, written under a sheet's rows: a category column
/// (bill dates, buckets) and a column per series.
struct SheetChart {
    var titles: ChartTitles
    /// The category column's title, then each series' name.
    var header: [String]
    /// Per category, its cell and each series' value (`.empty`: none).
    var rows: [[Cell]]
}

/// The words on a chart: its title, the axes' names, and the category axis' number format.
struct ChartTitles: Hashable {
    var title: String
    var categories: String
    var values: String
    var categoryFormat: String?

    /// Billed revenue per plan per bill date (the reconciliation's Summary).
    static let revenue = ChartTitles(title: "Billed revenue per plan per bill date", categories: "Bill date",
                                     values: "Billed (before tax)", categoryFormat: "yyyy-mm-dd")
}

/// A problem writing a report: what went wrong as a case, and a message for people.
public struct ReportError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The arguments do not fit together (a range, a sheet, an extension).
        case arguments
        /// The output cannot be written where asked (no such folder, a folder, permissions).
        case output
        /// The report would pass the rows a spreadsheet holds.
        case tooLarge
        /// Writing failed on the way (libxlsxwriter, the workbook tape, a full disk).
        case writer
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The arguments are to blame and the user can fix them: exit status 2 at the command line.
    public var isInput: Bool { kind != .writer }

    public var description: String { message }
}

/// A file written under a temporary name in the target's folder and renamed into place only
/// when complete, so a failed write leaves nothing at the target (and a reader never sees half
/// a file). Creating it up front checks that the folder exists and is writable.
struct PendingFile {
    let target: String
    let temporary: String

    init(target: String) throws {
        let url = URL(fileURLWithPath: target)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReportError(.output, "cannot write \(target): the folder \(folder) does not exist")
        }
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ReportError(.output, "cannot write \(target): it is a folder")
        }
        self.target = target
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).part").path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw ReportError(.output, "cannot write \(target): \(String(cString: strerror(errno))) (check the folder's permissions)")
        }
        close(descriptor)
    }

    func commit() throws {
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            discard()
            throw ReportError(.writer, "cannot move the report into place at \(target): \(reason)")
        }
    }

    func discard() {
        unlink(temporary)
    }
}

/// A CSV of one sheet (RFC 4180: UTF-8, CRLF line ends, a header row, fields quoted when they
/// hold a comma, a quote or a line break). Amounts are plain decimals with the currency's
/// decimals, times RFC 3339, percentages fractions ("0.19"); totals, notes and charts are for
/// the workbook only, so every CSV row is a data row.
final class CSVOutput: ReportOutput {
    private let sheetName: String
    private let file: PendingFile
    private var stream: UnsafeMutablePointer<FILE>?
    private var found = false

    init(path: String, sheet: String) throws {
        sheetName = sheet
        file = try PendingFile(target: path)
        guard let stream = fopen(file.temporary, "w") else {
            file.discard()
            throw ReportError(.output, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.stream = stream
    }

    deinit { if stream != nil { discard() } }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        guard layout.name == sheetName, let stream else { return SkippedSheet() }
        found = true
        let sheet = CSVSheet(stream: stream)
        try sheet.write(layout.columns.map { .text($0.title) })
        return sheet
    }

    func finish() throws {
        guard let stream else { return }
        self.stream = nil
        let failed = ferror(stream) != 0
        guard fclose(stream) == 0, !failed, found else {
            file.discard()
            throw ReportError(.writer, found ? "cannot write \(file.target): \(String(cString: strerror(errno)))" : "no sheet \(sheetName) was written")
        }
        try file.commit()
    }

    func discard() {
        if let stream { fclose(stream) }
        stream = nil
        file.discard()
    }
}

final class CSVSheet: SheetOutput {
    private let stream: UnsafeMutablePointer<FILE>
    private(set) var dataRows = 0

    init(stream: UnsafeMutablePointer<FILE>) {
        self.stream = stream
    }

    func row(_ cells: [Cell]) throws {
        try write(cells)
        dataRows += 1
    }

    func write(_ cells: [Cell]) throws {
        var line = ""
        for (index, cell) in cells.enumerated() {
            if index > 0 { line += "," }
            line += CSV.field(CSVSheet.text(cell))
        }
        line += "\r\n"
        guard fputs(line, stream) >= 0 else { throw ReportError(.writer, "cannot write the CSV: \(String(cString: strerror(errno)))") }
    }

    static func text(_ cell: Cell) -> String {
        switch cell {
        case .text(let value): return value
        case .integer(let value): return String(value)
        case .money(let value, let currency): return Numbers.text(minorUnits: value, decimals: currency.minorUnits)
        case .decimal(let value), .percent(let value): return value.plainString
        case .date(let value): return value.rfc3339
        case .empty: return ""
        case .formula(_, let cached): return text(cached)
        }
    }

    func totals(_ rows: [[Cell]]) throws {}
    func note(_ text: String) throws {}
    func chart(_ chart: SheetChart) throws {}
    func chartOfRows(_ titles: ChartTitles) throws {}
}

/// A sheet the CSV does not hold: its rows are counted and dropped.
final class SkippedSheet: SheetOutput {
    private(set) var dataRows = 0
    func row(_ cells: [Cell]) throws { dataRows += 1 }
    func totals(_ rows: [[Cell]]) throws {}
    func note(_ text: String) throws {}
    func chart(_ chart: SheetChart) throws {}
    func chartOfRows(_ titles: ChartTitles) throws {}
}

/// CSV fields as RFC 4180 describes them.
public enum CSV {
    /// A whole CSV: a header row and rows, each ending in CRLF.
    public static func render(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
    }

    /// The field as it is, or quoted (quotes doubled) when it holds a comma, a quote or a line break.
    public static func field(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
