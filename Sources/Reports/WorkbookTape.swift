import Billing
import Foundation
import Store

/// The reconciliation workbook as a tape of libxlsxwriter calls, kept in a file, and the
/// workbook written again from such a file: what the workbook benchmark (`Showcase`) measures
/// against, the same calls with nothing of Tollbooth around them.
package enum WorkbookTape {
    /// Runs `report reconciliation` for `[from, to)` into a tape at `path`.
    package static func record(store: any ReportSource, from: Instant, to: Instant, tape path: String) throws {
        guard let stream = fopen(path, "w") else { throw ReportError(.output, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(stream) }
        let writer = TapeWriter { chunk in
            guard chunk.withUnsafeBytes({ fwrite($0.baseAddress, 1, $0.count, stream) }) == chunk.count else {
                throw ReportError(.writer, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
        }
        let output = TapeRecording(writer: writer)
        try ReportBuilder(store: store, from: from, to: to).reconciliation(output)
        try output.finish()
    }

    /// Writes the workbook the tape at `path` describes to `out`; returns the seconds the
    /// writing took.
    package static func replay(tape path: String, out: String) throws -> Double {
        let tape = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let started = DispatchTime.now().uptimeNanoseconds
        let replayer = try TapeReplayer(path: out)
        try tape.withUnsafeBytes { try replayer.replay($0) }
        try replayer.close()
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }
}

/// The report's workbook kept as a tape.
final class TapeRecording: ReportOutput {
    private let writer: TapeWriter
    private var sheets: [WorkbookSheet<TapeSheet>] = []

    init(writer: TapeWriter) {
        self.writer = writer
    }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        let sheet = try WorkbookSheet(sink: try writer.addSheet(layout.name), layout: layout)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        for sheet in sheets { try sheet.finish() }
        try writer.flush()
    }

    func discard() {}
}
