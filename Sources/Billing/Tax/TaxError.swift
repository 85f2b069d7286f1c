import Foundation

/// Why tax could not be computed, in words a finance user can act on.
public enum TaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A row of `tax.rates` cannot be used.
    case invalidRate(String)
    /// No rate matches the customer's billing address while `tax.enforced` is true.
    case noRateMatched(String)
    /// An arithmetic input gave no number.
    case notANumber(String)

    public var message: String {
        switch self {
        case .invalidRate(let message), .noRateMatched(let message), .notANumber(let message):
            return message
        }
    }

    public var description: String { message }
}
