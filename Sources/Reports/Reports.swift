import Billing
import Foundation
import Store

/// What the reports read: the report queries, the reconciliation's differences, and a read
/// transaction so every sheet shows one moment.
public typealias ReportSource = ReportRepository & ReconciliationRepository & Transactions

/// The reports finance reads, each a workbook (`.xlsx`) or, sheet by sheet, CSV (`.csv`).
public enum Report: String, CaseIterable, Sendable {
    /// Every sheet: Summary, Invoices, Lines, Usage, Tax, Credits, Differences, Failures.
    case reconciliation
    /// The Invoices sheet alone.
    case invoices
    /// The Usage sheet alone.
    case usage

    public var layout: ReportLayout {
        switch self {
        case .reconciliation: return .reconciliation
        case .invoices: return .invoices
        case .usage: return .usage
        }
    }

    /// Writes the report of the invoices billed in `[from, to)` to `path`, whose extension
    /// picks the format. A CSV holds one sheet: `sheet` names it (needed only when the report
    /// has several). The file appears at `path` only once it is complete.
    public func write(store: any ReportSource, from: Instant, to: Instant, path: String, sheet: String? = nil) throws {
        guard from < to else {
            throw ReportError(.arguments, "--from (\(from.rfc3339)) must be before --to (\(to.rfc3339)): the range holds bill dates from --from up to --to")
        }
        let output: any ReportOutput
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "xlsx":
            if sheet != nil { throw ReportError(.arguments, "--sheet is for a CSV: a workbook holds every sheet") }
            output = try XLSXOutput(path: path)
        case "csv":
            let names = layout.sheets.map(\.name)
            let chosen: SheetLayout
            if let sheet {
                guard let found = layout.sheet(named: sheet) else {
                    throw ReportError(.arguments, "the \(rawValue) report has no sheet \(sheet) (one of \(names.joined(separator: ", ")))")
                }
                chosen = found
            } else {
                guard layout.sheets.count == 1 else {
                    throw ReportError(.arguments, "a \(rawValue) CSV holds one sheet: add --sheet with one of \(names.joined(separator: ", "))")
                }
                chosen = layout.sheets[0]
            }
            output = try CSVOutput(path: path, sheet: chosen.name)
        case let other:
            throw ReportError(.arguments, "--out must end in .xlsx or .csv, not \(other.isEmpty ? "no extension" : "." + other): \(path)")
        }
        do {
            let builder = ReportBuilder(store: store, from: from, to: to)
            // One read transaction: every sheet sees the same state of the store, even while a
            // bill run writes (WAL readers do not block writers).
            try store.readTransaction {
                switch self {
                case .reconciliation: try builder.reconciliation(output)
                case .invoices: try builder.invoices(output)
                case .usage: try builder.usage(output)
                }
            }
            try output.finish()
        } catch {
            output.discard()
            throw error
        }
    }
}
