import Billing
import Foundation

/// Tollbooth's SQLite store: one connection, the schema migrated on open, and repositories as
/// extensions (catalog, customers, subscriptions, usage, invoices, credits, the job ledger).
public final class Store {
    public let database: Database

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String) throws {
        database = try Database(path: path)
    }

    /// Runs `body` in one transaction.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try database.transaction(body)
    }
}

/// A problem with what was asked of the store that the user can fix: exit status 2.
public struct StoreInputError: Error, CustomStringConvertible, Sendable {
    /// What kind of refusal it is, for answers that tell them apart (HTTP's 404, 409, 422).
    public enum Kind: Hashable, Sendable {
        /// What was named does not exist.
        case notFound
        /// It exists, but its state refuses the request (a second subscription, an ended one).
        case conflict
        /// A given value is wrong; the field when one is to blame.
        case invalid(String?)
    }

    public let message: String
    public let kind: Kind
    public init(_ message: String, kind: Kind = .invalid(nil)) {
        self.message = message
        self.kind = kind
    }
    public var description: String { message }
}

extension Instant {
    var sql: SQLValue { .integer(seconds) }
}

extension Row {
    func instant(_ index: Int) -> Instant? { int(index).map { Instant(seconds: $0) } }
}

/// Short random identifiers with a readable prefix ("sub_3f9a1c2b7e4d").
enum Identifier {
    static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return prefix + "_" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
