import Billing
import Foundation

/// One cell of a report row. Money stays exact (integer minor units) until the workbook writer
/// turns it into the spreadsheet's number at the last step.
enum Cell {
    case text(String)
    case integer(Int)
    /// An amount in minor units of the currency.
    case money(Int64, Currency)
    case decimal(Decimal)
    /// A fraction (0.19), shown as a percentage.
    case percent(Decimal)
    case date(Instant)
    case empty
    /// A formula and the value it computes, computed exactly in Swift: a reader that does not
    /// recalculate (and a CSV) shows that value.
    indirect case formula(String, cached: Cell)

    static func text(_ value: String?) -> Cell { value.map(Cell.text) ?? .empty }
    static func date(_ value: Instant?) -> Cell { value.map(Cell.date) ?? .empty }
}

/// Exact decimal text for CSV cells and the conversions the workbook needs.
enum Numbers {
    /// "-12.30" from -1230 minor units of a two-decimal currency; "500" for JPY.
    static func text(minorUnits value: Int64, decimals: Int) -> String {
        let magnitude = String(value.magnitude)
        let sign = value < 0 ? "-" : ""
        guard decimals > 0 else { return sign + magnitude }
        let padded = String(repeating: "0", count: max(0, decimals + 1 - magnitude.count)) + magnitude
        return sign + padded.dropLast(decimals) + "." + padded.suffix(decimals)
    }

    static let powersOfTen: [Double] = [1, 10, 100, 1_000, 10_000]

    /// The double nearest to the amount: the minor units (an exact integer below 2^53) divided
    /// by an exact power of ten is one correctly rounded IEEE operation.
    static func double(minorUnits value: Int64, decimals: Int) -> Double {
        Double(value) / powersOfTen[decimals]
    }

    /// The double nearest to a decimal: its plain text read by `strtod`, which rounds correctly.
    static func double(_ value: Decimal) -> Double {
        strtod(value.plainString, nil)
    }

    /// The spreadsheet serial date (days since 1899-12-30) of an instant: seconds since then,
    /// exact as an integer, divided once.
    static func serialDate(_ instant: Instant) -> Double {
        Double(instant.seconds + 25_569 * 86_400) / 86_400
    }
}
