/// What a column holds, which decides its cell type and number format in a workbook and its
/// text in a CSV.
public enum ColumnType: String, Codable, Hashable, Sendable {
    /// Plain text.
    case text
    /// A count.
    case integer
    /// An amount in the row's currency, with that currency's decimals.
    case money
    /// An exact decimal that is not money (a quantity, a unit price).
    case decimal
    /// A fraction shown as a percentage (0.19 -> 19.00%).
    case percent
    /// An instant, a real spreadsheet date.
    case date
}

public struct ReportColumn: Codable, Hashable, Sendable {
    public var title: String
    public var type: ColumnType
    /// In characters, as spreadsheets count column widths.
    public var width: Double

    public init(_ title: String, _ type: ColumnType, width: Double) {
        self.title = title
        self.type = type
        self.width = width
    }
}

public struct SheetLayout: Codable, Hashable, Sendable {
    public var name: String
    public var columns: [ReportColumn]

    /// The column's index; the layouts are fixed, so a missing title is a programming error.
    func index(_ title: String) -> Int {
        guard let index = columns.firstIndex(where: { $0.title == title }) else { preconditionFailure("no column \(title) in \(name)") }
        return index
    }
}

/// A report: its sheets in workbook order. The files in `reports/` hold the same layouts for
/// readers of the repository; a test keeps them equal to these.
public struct ReportLayout: Codable, Hashable, Sendable {
    public var report: String
    public var sheets: [SheetLayout]

    public func sheet(named name: String) -> SheetLayout? {
        sheets.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }
}

extension SheetLayout {
    static let summary = SheetLayout(name: "Summary", columns: [
        .init("Currency", .text, width: 10), .init("Invoices", .integer, width: 10), .init("Subtotal", .money, width: 18),
        .init("Tax", .money, width: 16), .init("Total", .money, width: 18), .init("Paid", .money, width: 18),
        .init("Outstanding", .money, width: 18), .init("Not issued", .money, width: 18), .init("Failed", .money, width: 16),
        .init("Differences", .integer, width: 12),
    ])

    static let invoices = SheetLayout(name: "Invoices", columns: [
        .init("Invoice", .text, width: 30), .init("Customer", .text, width: 20), .init("Bill date", .date, width: 17),
        .init("Period start", .date, width: 17), .init("Period end", .date, width: 17), .init("Currency", .text, width: 10),
        .init("Status", .text, width: 15), .init("Subtotal", .money, width: 16), .init("Tax", .money, width: 14),
        .init("Total", .money, width: 16), .init("Stripe invoice", .text, width: 24), .init("Invoice number", .text, width: 16),
        .init("Stripe total", .money, width: 16), .init("Difference", .money, width: 14), .init("Paid at", .date, width: 17),
        .init("Failure", .text, width: 40),
    ])

    static let lines = SheetLayout(name: "Lines", columns: [
        .init("Invoice", .text, width: 30), .init("Customer", .text, width: 20), .init("Bill date", .date, width: 17),
        .init("Currency", .text, width: 10), .init("Invoice status", .text, width: 15), .init("Kind", .text, width: 17),
        .init("Plan", .text, width: 14), .init("Rate card", .text, width: 18), .init("Description", .text, width: 36),
        .init("Quantity", .decimal, width: 14), .init("Unit price", .decimal, width: 12), .init("Tier detail", .text, width: 40),
        .init("Service start", .date, width: 17), .init("Service end", .date, width: 17), .init("Amount", .money, width: 16),
        .init("Tax", .money, width: 14), .init("Tax behavior", .text, width: 12),
    ])

    static let usage = SheetLayout(name: "Usage", columns: [
        .init("Customer", .text, width: 20), .init("Currency", .text, width: 10), .init("Meter", .text, width: 20),
        .init("Feature", .text, width: 20), .init("Quantity", .decimal, width: 16), .init("Billed amount", .money, width: 18),
    ])

    static let tax = SheetLayout(name: "Tax", columns: [
        .init("Country", .text, width: 9), .init("State", .text, width: 8), .init("Tax name", .text, width: 20),
        .init("Rate", .percent, width: 9), .init("Currency", .text, width: 10), .init("Invoices", .integer, width: 10),
        .init("Taxable amount", .money, width: 18), .init("Tax", .money, width: 16),
    ])

    static let credits = SheetLayout(name: "Credits", columns: [
        .init("Customer", .text, width: 20), .init("Currency", .text, width: 10), .init("Credit balance", .money, width: 18),
        .init("Credits", .integer, width: 9), .init("Oldest from", .date, width: 17), .init("Rate cards", .text, width: 30),
    ])

    static let differences = SheetLayout(name: "Differences", columns: [
        .init("Invoice", .text, width: 30), .init("Customer", .text, width: 20), .init("Currency", .text, width: 10),
        .init("Stripe invoice", .text, width: 24), .init("Kind", .text, width: 18), .init("Tollbooth", .text, width: 18),
        .init("Stripe", .text, width: 18), .init("Explained", .text, width: 10), .init("Detail", .text, width: 60),
    ])

    static let failures = SheetLayout(name: "Failures", columns: [
        .init("Invoice", .text, width: 30), .init("Customer", .text, width: 20), .init("Bill date", .date, width: 17),
        .init("Currency", .text, width: 10), .init("Total", .money, width: 16), .init("Stage", .text, width: 8),
        .init("Error", .text, width: 60), .init("Stripe request", .text, width: 22), .init("Next step", .text, width: 44),
    ])
}

extension ReportLayout {
    public static let reconciliation = ReportLayout(report: "reconciliation", sheets: [
        .summary, .invoices, .lines, .usage, .tax, .credits, .differences, .failures,
    ])
    public static let invoices = ReportLayout(report: "invoices", sheets: [.invoices])
    public static let usage = ReportLayout(report: "usage", sheets: [.usage])
}
