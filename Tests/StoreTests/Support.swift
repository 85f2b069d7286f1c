import Foundation
@testable import Billing
@testable import Store
import TestSupport

func d(_ text: String) -> Decimal { Decimal(exactly: text)! }
func t(_ text: String) -> Instant { Instant(rfc3339: text)! }

/// A fresh database in a temporary folder.
func temporaryStore() throws -> SQLiteStore {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
}

/// A fresh, empty database of `backend`: a SQLite file in a temporary folder, or a new database
/// on the tests' PostgreSQL server.
func temporaryStore(_ backend: Backend) throws -> any SQLRepositories {
    switch backend {
    case .sqlite: try temporaryStore()
    case .postgres: try PostgresStore(url: try PostgresServer.shared().makeDatabase())
    }
}

let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
