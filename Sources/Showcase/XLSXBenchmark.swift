import Billing
import Foundation
import Reports
import Store

/// The workbook benchmark's peer: libxlsxwriter making exactly the calls `report
/// reconciliation` makes, with nothing of Tollbooth around it. `record` runs the report and
/// keeps its tape of libxlsxwriter calls in a file; `replay` makes those calls from the mapped
/// file, so both write the same cells, formats, formulas and chart.
public enum XLSXBenchmark {
    public static func record(store: any ReportSource, from: Instant, to: Instant, tape path: String) throws {
        try WorkbookTape.record(store: store, from: from, to: to, tape: path)
    }

    /// Writes the workbook the tape describes to `out`; returns the seconds the writing took.
    public static func replay(tape path: String, out: String) throws -> Double {
        try WorkbookTape.replay(tape: path, out: out)
    }
}
