import Billing
import Foundation
import Pipeline

/// Writes to standard output.
func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A plain-text table: a header row and aligned columns two spaces apart. Money columns are
/// right-aligned so the decimal points line up.
struct Table {
    enum Alignment {
        case left
        case right
    }

    struct Column {
        var title: String
        var alignment: Alignment = .left
    }

    var columns: [Column]
    var rows: [[String]] = []

    init(_ columns: [Column]) {
        self.columns = columns
    }

    /// A table of left-aligned columns.
    init(_ titles: String...) {
        self.columns = titles.map { Column(title: $0) }
    }

    mutating func append(_ row: [String]) {
        precondition(row.count == columns.count, "a table row has \(row.count) cells for \(columns.count) columns")
        rows.append(row)
    }

    /// The header and rows, without a trailing newline; trailing spaces are trimmed.
    var rendered: String {
        let widths = columns.indices.map { index in
            rows.reduce(columns[index].title.count) { max($0, $1[index].count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                if index > 0 { text += "  " }
                switch columns[index].alignment {
                case .left: text += cell + padding
                case .right: text += padding + cell
                }
            }
            while text.hasSuffix(" ") { text.removeLast() }
            return text
        }
        return ([line(columns.map(\.title))] + rows.map(line)).joined(separator: "\n")
    }
}

/// Writes CSV bytes as they are: `print` would add a bare LF after the last CRLF.
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

extension Money {
    /// "29.00 USD" for tables.
    var labelled: String { "\(formatted) \(currency.code)" }
}
