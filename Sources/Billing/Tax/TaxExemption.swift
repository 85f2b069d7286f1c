import Foundation

/// A customer's `taxExempt`, with Stripe's `tax_exempt` values.
public enum TaxExemption: String, Hashable, Sendable, CaseIterable {
    case none
    case exempt
    /// The customer accounts for the tax itself (EU B2B): no tax, and the invoice says
    /// "reverse charge".
    case reverse

    /// The value of a customer's `taxExempt` when the JSON holds a boolean: `true` is `exempt`,
    /// `false` is `none`.
    public static func fromCustomerJSON(_ value: Bool) -> TaxExemption {
        value ? .exempt : .none
    }

    /// The value of a customer's `taxExempt` when the JSON holds a string: `none`, `exempt` or
    /// `reverse`, and also "true"/"false" for files that quoted the boolean. Exact lower case,
    /// as Stripe writes them; nil for anything else, so the import can name the bad value.
    public static func fromCustomerJSON(_ value: String) -> TaxExemption? {
        switch value {
        case "true": return .exempt
        case "false": return TaxExemption.none
        default: return TaxExemption(rawValue: value)
        }
    }
}
