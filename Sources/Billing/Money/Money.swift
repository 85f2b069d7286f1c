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
        if let value = Decimal(smallExactly: text) {
            self = value
            return
        }
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

    /// `init?(exactly:)` for texts of at most 18 digits (of zeros, "0" only), read from their bytes: the
    /// same value `Decimal(string:)` gives (mantissa and exponent alike), without its locale and
    /// scanner, which cost most of the time of reading stored amounts. nil for anything else.
    init?(smallExactly text: String) {
        var mantissa: UInt64 = 0
        var digits = 0, decimals = 0
        var seenPoint = false, negative = false
        for (index, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "-") where index == 0: negative = true
            case UInt8(ascii: "+") where index == 0: continue
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                guard digits <= 18 else { return nil }
                if seenPoint { decimals += 1 }
                mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: ".") where !seenPoint: seenPoint = true
            default: return nil
            }
        }
        // A zero written with decimals ("0.00") keeps its exponent in Decimal(string:): left to it.
        if digits == 1, mantissa == 0, !seenPoint, !negative {
            self = 0
            return
        }
        guard digits > 0, mantissa != 0 else { return nil }
        self.init(sign: negative ? .minus : .plus, exponent: -decimals, significand: Decimal(mantissa))
    }

    /// The canonical text of this value ("12.5", "-0.0004"), the inverse of `init?(exactly:)`:
    /// the text `description` writes, which takes about 1.6 µs a value (its digits come from
    /// repeated division of the 128-bit mantissa) and was a twelfth of a bill run. A value whose
    /// significand has at most 18 digits, every amount and price in practice, is written here from
    /// its significand as an integer; anything else is left to `description`.
    public var plainString: String {
        if let whole = wholeValue { return String(whole) }
        guard !isNaN, significand <= Decimal.smallSignificandLimit else { return description }
        var digits = NSDecimalNumber(decimal: significand).uint64Value
        var exponent = self.exponent
        if digits == 0 { return "0" }
        while exponent < 0, digits % 10 == 0 {
            digits /= 10
            exponent += 1
        }
        var text = String(digits)
        if exponent > 0 {
            text += String(repeating: "0", count: exponent)
        } else if exponent < 0 {
            let decimals = -exponent
            if text.utf8.count <= decimals {
                text = "0." + String(repeating: "0", count: decimals - text.utf8.count) + text
            } else {
                let point = text.utf8.index(text.utf8.endIndex, offsetBy: -decimals)
                text = String(text[..<point]) + "." + String(text[point...])
            }
        }
        return sign == .minus ? "-" + text : text
    }

    /// The value as an `Int64` when it is a whole number that fits, else nil: a few tens of
    /// nanoseconds, where Foundation's decimal addition or comparison costs hundreds.
    public var wholeValue: Int64? {
        guard !isNaN else { return nil }
        let whole = NSDecimalNumber(decimal: self).int64Value
        return Decimal(whole) == self ? whole : nil
    }

    private static let smallSignificandLimit = Decimal(999_999_999_999_999_999 as UInt64)
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
        let utf8 = text.utf8
        guard let point = utf8.firstIndex(of: UInt8(ascii: ".")) else { return text + "." + String(repeating: "0", count: decimals) }
        let fraction = utf8.distance(from: utf8.index(after: point), to: utf8.endIndex)
        guard fraction < decimals else { return String(text[..<utf8.index(point, offsetBy: decimals + 1)]) }
        return text + String(repeating: "0", count: decimals - fraction)
    }
}
