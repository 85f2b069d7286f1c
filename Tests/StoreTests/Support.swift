import Foundation
@testable import Billing
@testable import Store

func d(_ text: String) -> Decimal { Decimal(exactly: text)! }
func t(_ text: String) -> Instant { Instant(rfc3339: text)! }

/// A fresh database in a temporary folder.
func temporaryStore() throws -> SQLiteStore {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
}

let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
