import Foundation

/// The tax of one invoice line, rounded once to the currency's billing scale.
public enum LineTax {
    /// Exclusive: round(amount x rate), on top of the amount.
    /// Inclusive: amount - round(amount / (1 + rate)), already inside the amount, so the net
    /// part is what is rounded and the tax is the exact remainder: net + tax == amount.
    /// Rounding is half away from zero, so a negative line's tax mirrors the positive one's.
    ///
    /// The rate must be usable (`TaxRate.problem == nil`, as `TaxRateTable(validating:)`
    /// ensures); use `checkedTax` where the rate has not been checked.
    public static func tax(amount: Decimal, rate: Decimal, behavior: TaxBehavior, currency: Currency) -> Decimal {
        do {
            return try checkedTax(amount: amount, rate: rate, behavior: behavior, currency: currency)
        } catch {
            preconditionFailure(error.description)
        }
    }

    /// `tax`, failing instead of trapping when the inputs give no number (a rate of -1 or
    /// below, a NaN amount or rate).
    public static func checkedTax(amount: Decimal, rate: Decimal, behavior: TaxBehavior,
                                  currency: Currency) throws(TaxError) -> Decimal {
        guard !amount.isNaN, !rate.isNaN, rate > -1 else {
            throw TaxError.notANumber("tax of \(amount.plainString) \(currency) at rate \(rate.plainString) is not a number; tax rates must be from 0 to 1")
        }
        let scale = currency.billingScale
        let result: Decimal
        switch behavior {
        case .exclusive:
            result = (amount * rate).rounded(scale: scale)
        case .inclusive:
            let net = amount / (1 + rate)
            // Decimal division signals failure with NaN rather than trapping.
            guard !net.isNaN else {
                throw TaxError.notANumber("net of \(amount.plainString) \(currency) at rate \(rate.plainString) is not a number")
            }
            result = amount - net.rounded(scale: scale)
        }
        guard !result.isNaN else {
            throw TaxError.notANumber("tax of \(amount.plainString) \(currency) at rate \(rate.plainString) is not a number")
        }
        return result
    }
}
