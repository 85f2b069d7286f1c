import Foundation

extension Decimal {
    /// This value rounded half away from zero to `scale` decimals (0.125 -> 0.13, -0.125 -> -0.13).
    public func rounded(scale: Int) -> Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, scale, .plain)
        return result
    }

    /// The smallest integer not below this value.
    public var ceiling: Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, 0, .up)
        return result
    }

    /// Parses a plain decimal string such as "12", "-0.0004" or "1000.5"; nil for anything else
    /// (exponents, spaces, trailing characters), which `Decimal(string:)` would half-accept.
    public init?(exactly text: String) {
        var digits = 0
        var seenPoint = false
        for (index, character) in text.enumerated() {
            switch character {
            case "-" where index == 0, "+" where index == 0: continue
            case "0"..."9": digits += 1
            case "." where !seenPoint: seenPoint = true
            default: return nil
            }
        }
        guard digits > 0, digits <= 38, let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
        else { return nil }
        self = value
    }

    /// The canonical text of this value ("12.5", "-0.0004"), the inverse of `init?(exactly:)`.
    public var plainString: String {
        // What NSDecimalNumber's stringValue writes, without making one.
        description
    }
}

/// An amount of money in one currency.
public struct Money: Hashable, Sendable, CustomStringConvertible {
    public var amount: Decimal
    public let currency: Currency

    public init(_ amount: Decimal, _ currency: Currency) {
        self.amount = amount
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(0, currency) }

    /// Rounded once, half away from zero, to the currency's billing scale.
    public var rounded: Money { Money(amount.rounded(scale: currency.billingScale), currency) }

    /// The amount in Stripe's integer minor units (12.34 USD -> 1234, 500 JPY -> 500,
    /// 1.23 BHD -> 1230). The amount must already be rounded to the billing scale.
    public var minorUnits: Int64 {
        let scaled = amount.rounded(scale: currency.billingScale) * Money.power(currency.minorUnits)
        return NSDecimalNumber(decimal: scaled).int64Value
    }

    /// The amount for Stripe's integer minor units.
    public init(minorUnits: Int64, _ currency: Currency) {
        self.init(Decimal(minorUnits) / Money.power(currency.minorUnits), currency)
    }

    /// The amount with exactly the currency's decimals ("12.30", "500", "1.230").
    public var formatted: String {
        Money.format(amount.rounded(scale: currency.billingScale), decimals: currency.minorUnits)
    }

    public var description: String { "\(formatted) \(currency.code)" }

    public static func + (lhs: Money, rhs: Money) -> Money {
        precondition(lhs.currency == rhs.currency, "adding \(lhs.currency) to \(rhs.currency)")
        return Money(lhs.amount + rhs.amount, lhs.currency)
    }

    public static func - (lhs: Money, rhs: Money) -> Money {
        precondition(lhs.currency == rhs.currency, "subtracting \(rhs.currency) from \(lhs.currency)")
        return Money(lhs.amount - rhs.amount, lhs.currency)
    }

    public static prefix func - (value: Money) -> Money { Money(-value.amount, value.currency) }

    static func power(_ exponent: Int) -> Decimal {
        var result: Decimal = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }

    /// Formats a value with a fixed number of decimals, padding with zeros.
    public static func format(_ value: Decimal, decimals: Int) -> String {
        let text = value.rounded(scale: decimals).plainString
        guard decimals > 0 else { return text }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return "\(parts[0]).\(fraction.padding(toLength: decimals, withPad: "0", startingAt: 0))"
    }
}
