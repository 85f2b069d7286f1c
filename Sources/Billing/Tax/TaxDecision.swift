import Foundation

/// How one customer's invoice is taxed with the local rate table (`tax.provider: rates`).
public enum TaxDecision: Hashable, Sendable {
    /// Tax every line at this rate.
    case apply(TaxRate)
    /// A tax-exempt customer: no tax.
    case exempt
    /// The customer self-assesses: no tax, and the invoice must say "reverse charge".
    case reverseCharge
    /// No rate matches the address and tax is not enforced: issued without tax.
    case noRateMatched(country: String?, state: String?)

    /// The words a reverse-charge invoice must carry.
    public static let reverseChargeNote = "reverse charge"

    /// Decides the tax of a customer. The exemption is read first, so an exempt or
    /// reverse-charge customer needs no billing address even when tax is enforced.
    ///
    /// - Throws: `TaxError.noRateMatched` when `enforced` and no row matches; the message names
    ///   the customer and its country and state, and says how to fix it.
    public static func decide(customerKey: String? = nil, exemption: TaxExemption, country: String?,
                              state: String?, table: TaxRateTable, enforced: Bool) throws(TaxError) -> TaxDecision {
        switch exemption {
        case .exempt: return .exempt
        case .reverse: return .reverseCharge
        case .none: break
        }
        if let country, let rate = table.rate(country: country, state: state) {
            return .apply(rate)
        }
        guard enforced else { return .noRateMatched(country: country, state: state) }
        let who = customerKey.map { "customer \($0)" } ?? "customer"
        let place: String
        switch (TaxRateTable.normalized(country), TaxRateTable.normalized(state)) {
        case (nil, _):
            throw TaxError.noRateMatched(
                "\(who) has no billing country, and tax is enforced: add billingAddress.country to the customer, or set tax.enforced to false")
        case (let country?, nil): place = "country \(country)"
        case (let country?, let state?): place = "country \(country), state \(state)"
        }
        throw TaxError.noRateMatched(
            "no tax rate matches \(who) in \(place), and tax is enforced: add a rate for it to tax.rates, mark the customer taxExempt, or set tax.enforced to false")
    }

    /// The rate to apply; nil when the invoice carries no tax.
    public var rate: TaxRate? {
        switch self {
        case .apply(let rate): return rate
        case .exempt, .reverseCharge, .noRateMatched: return nil
        }
    }

    public var isReverseCharge: Bool {
        switch self {
        case .reverseCharge: return true
        case .apply, .exempt, .noRateMatched: return false
        }
    }

    /// The text the invoice must show, if any.
    public var invoiceNote: String? { isReverseCharge ? TaxDecision.reverseChargeNote : nil }

    /// The tax of one line under this decision: zero unless a rate applies.
    public func tax(amount: Decimal, behavior: TaxBehavior, currency: Currency) -> Decimal {
        guard let rate else { return 0 }
        return LineTax.tax(amount: amount, rate: rate.rate, behavior: behavior, currency: currency)
    }
}
