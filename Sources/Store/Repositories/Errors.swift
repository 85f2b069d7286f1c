import Billing
import Foundation

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
