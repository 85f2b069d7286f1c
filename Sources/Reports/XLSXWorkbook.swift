import Billing
import Foundation

/// A number format of a workbook cell; a cell without one is General.
enum NumberFormat: Hashable {
    /// `#,##0.00 "USD"`: the currency's decimals (none for JPY) and its code, so a number keeps
    /// its currency wherever it is copied.
    case money(decimals: Int, code: String)
    case date
    case percent

    var pattern: String {
        switch self {
        case .money(let decimals, let code):
            return "#,##0" + (decimals > 0 ? "." + String(repeating: "0", count: decimals) : "") + " \"\(code)\""
        case .date: return "yyyy-mm-dd hh:mm"
        case .percent: return "0.00%"
        }
    }
}

/// What a workbook sheet is made of, as libxlsxwriter takes it: the sheet logic (header, rows
/// in order, totals, autofilter, chart) is written over this, and `TapeSheet` records the calls.
protocol CellSink: AnyObject {
    func string(_ row: UInt32, _ column: UInt16, _ text: String, bold: Bool) throws
    func number(_ row: UInt32, _ column: UInt16, _ value: Double, _ format: NumberFormat?) throws
    func formula(_ row: UInt32, _ column: UInt16, _ formula: String, _ value: Double, _ format: NumberFormat?) throws
    func column(_ column: UInt16, width: Double) throws
    func freezeHeader() throws
    func autofilter(lastRow: UInt32, lastColumn: UInt16) throws
    /// A column chart of `series` (values and name references) over the `categories` reference,
    /// placed at (row, column).
    func chart(categories: String, series: [(values: String, name: String)], titles: ChartTitles, row: UInt32, column: UInt16) throws
}

/// One sheet of a workbook in constant-memory mode: the header row (bold, frozen), data rows in
/// order, then totals, notes and the chart under them.
final class WorkbookSheet<Sink: CellSink>: SheetOutput {
    private let sink: Sink
    private let layout: SheetLayout
    private var nextRow: UInt32 = 1
    private(set) var dataRows = 0
    private var filtered = false

    /// Spreadsheets hold 1,048,576 rows a sheet.
    static var maxRows: Int { 1_048_576 }

    init(sink: Sink, layout: SheetLayout) throws {
        self.sink = sink
        self.layout = layout
        for (index, column) in layout.columns.enumerated() {
            try sink.column(UInt16(index), width: column.width)
            try sink.string(0, UInt16(index), column.title, bold: true)
        }
        try sink.freezeHeader()
    }

    func row(_ cells: [Cell]) throws {
        guard Int(nextRow) < WorkbookSheet.maxRows else {
            throw ReportError(.tooLarge, "the \(layout.name) sheet would pass the 1,048,576 rows a spreadsheet holds: choose a shorter --from/--to range")
        }
        try write(cells, bold: false)
        dataRows += 1
    }

    func totals(_ rows: [[Cell]]) throws {
        try filter()
        nextRow += 1
        for row in rows { try write(row, bold: true) }
    }

    func note(_ text: String) throws {
        try filter()
        nextRow += 1
        try sink.string(nextRow, 0, text, bold: false)
        nextRow += 1
    }

    /// The chart's table under what is written so far, and a column chart of it beside the sheet's table.
    func chart(_ chart: SheetChart) throws {
        guard !chart.rows.isEmpty, chart.header.count > 1 else { return }
        try filter()
        nextRow += 1
        let header = nextRow + 1
        try write(chart.header.map { .text($0) }, bold: true)
        let first = nextRow + 1
        for row in chart.rows { try write(row, bold: false) }
        try drawChart(chart.titles, columns: chart.header.count, header: header, rows: first...nextRow)
    }

    func chartOfRows(_ titles: ChartTitles) throws {
        guard dataRows > 0 else { return }
        try drawChart(titles, columns: layout.columns.count, header: 1, rows: 2...UInt32(dataRows + 1))
    }

    /// A column chart of a table's rows (1-based, as in A1 references): column A the categories,
    /// the next `columns - 1` the series, named by the header row; placed beside the sheet's table.
    private func drawChart(_ titles: ChartTitles, columns: Int, header: UInt32, rows: ClosedRange<UInt32>) throws {
        let sheet = "'" + layout.name.replacingOccurrences(of: "'", with: "''") + "'"
        let first = rows.lowerBound, last = rows.upperBound
        let series = (1..<columns).map { index in
            let column = Formula.columnName(index)
            return (values: "=\(sheet)!$\(column)$\(first):$\(column)$\(last)", name: "=\(sheet)!$\(column)$\(header)")
        }
        try sink.chart(categories: "=\(sheet)!$A$\(first):$A$\(last)", series: series, titles: titles, row: 1,
                       column: UInt16(layout.columns.count + 1))
    }

    /// The autofilter covers the header and the data rows, not the totals under them.
    private func filter() throws {
        guard !filtered else { return }
        filtered = true
        try sink.autofilter(lastRow: UInt32(dataRows), lastColumn: UInt16(layout.columns.count - 1))
    }

    func finish() throws { try filter() }

    private func write(_ cells: [Cell], bold: Bool) throws {
        let row = nextRow
        for (index, cell) in cells.enumerated() {
            let column = UInt16(index)
            switch cell {
            case .text(let value): try sink.string(row, column, value, bold: bold)
            case .empty: continue
            case .formula(let formula, let cached):
                try sink.formula(row, column, formula, WorkbookSheet.number(cached), WorkbookSheet.format(of: cached))
            case .integer, .money, .decimal, .percent, .date:
                try sink.number(row, column, WorkbookSheet.number(cell), WorkbookSheet.format(of: cell))
            }
        }
        nextRow += 1
    }

    static func number(_ cell: Cell) -> Double {
        switch cell {
        case .integer(let value): return Double(value)
        case .money(let value, let currency): return Numbers.double(minorUnits: value, decimals: currency.minorUnits)
        case .decimal(let value), .percent(let value): return Numbers.double(value)
        case .date(let value): return Numbers.serialDate(value)
        case .text, .empty: return 0
        case .formula(_, let cached): return number(cached)
        }
    }

    static func format(of cell: Cell) -> NumberFormat? {
        switch cell {
        case .money(_, let currency): return .money(decimals: currency.minorUnits, code: currency.code)
        case .percent: return .percent
        case .date: return .date
        case .integer, .decimal, .text, .empty: return nil
        case .formula(_, let cached): return format(of: cached)
        }
    }
}
