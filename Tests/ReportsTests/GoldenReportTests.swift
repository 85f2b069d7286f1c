import Foundation
import Testing
@testable import Reports

/// Every sheet of the fixture's reconciliation (see `fixtureStore`) as CSV, compared with the
/// files in `Golden/`. After a deliberate change, re-record them with
/// `TOLLBOOTH_RECORD_GOLDEN=1 swift test --filter GoldenReportTests` and review the diff.
@Suite struct GoldenReportTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let recording = ProcessInfo.processInfo.environment["TOLLBOOTH_RECORD_GOLDEN"] == "1"

    @Test(arguments: ReportLayout.reconciliation.sheets.map(\.name))
    func reconciliationSheetMatchesItsGoldenFile(_ sheet: String) throws {
        let folder = try temporaryFolder()
        let store = try fixtureStore(in: folder)
        let path = folder.appendingPathComponent("\(sheet).csv").path
        try Report.reconciliation.write(store: store, from: rangeStart, to: rangeEnd, path: path, sheet: sheet)
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        let golden = GoldenReportTests.golden.appendingPathComponent("reconciliation-\(sheet).csv")
        if GoldenReportTests.recording {
            try FileManager.default.createDirectory(at: GoldenReportTests.golden, withIntermediateDirectories: true)
            try written.write(to: golden)
        }
        let expected = try Data(contentsOf: golden)
        #expect(written == expected, """
            \(sheet) differs from \(golden.path):
            \(String(decoding: written, as: UTF8.self))
            """)
    }
}
