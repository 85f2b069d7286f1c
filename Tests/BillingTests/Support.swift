import Foundation
@testable import Billing

/// A decimal from its exact text (never through a binary float).
func d(_ text: String) -> Decimal {
    guard let value = Decimal(exactly: text) else { fatalError("not a decimal: \(text)") }
    return value
}

/// An instant from RFC 3339 text.
func t(_ text: String) -> Instant {
    guard let value = Instant(rfc3339: text) else { fatalError("not RFC 3339: \(text)") }
    return value
}

/// The folder of shared test fixtures, `Tests/Fixtures`.
let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
