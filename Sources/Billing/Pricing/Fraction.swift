import Foundation

/// An exact ratio of two decimals, such as the metered quota used over the quota
/// (1,234.5 / 10,000), comparable with a `TimeFraction` without dividing either out.
///
/// Why a second type: a time fraction is whole seconds (`Int64`), while quota use comes from
/// `SUM` or `AVG` meters and is fractional. Both compare by cross-multiplication, which is exact
/// as long as each product fits in `Decimal`'s 38 significant digits (any realistic quota or
/// period does). The denominator is always positive; `init?` refuses anything else, since a quota
/// of 0 has no fraction used.
///
/// Equality is by value (1/2 == 2/4); the type is not `Hashable` because equal decimal
/// ratios have no cheap canonical form to hash.
public struct Fraction: Comparable, Sendable, CustomStringConvertible {
    public let numerator: Decimal
    public let denominator: Decimal

    public static let zero = Fraction(unchecked: 0, 1)
    public static let one = Fraction(unchecked: 1, 1)

    /// `numerator / denominator`, or nil when the denominator is not a positive number.
    public init?(_ numerator: Decimal, over denominator: Decimal) {
        guard !numerator.isNaN, !denominator.isNaN, denominator > 0 else { return nil }
        self.init(unchecked: numerator, denominator)
    }

    public init(_ time: TimeFraction) {
        self.init(unchecked: Decimal(time.part), Decimal(time.whole))
    }

    private init(unchecked numerator: Decimal, _ denominator: Decimal) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// At most 1: quota used beyond the quota consumes no more than the whole period.
    public var cappedAtOne: Fraction { Swift.min(self, .one) }

    /// 1 - self, never below 0: the unused share.
    public var remainder: Fraction {
        let rest = Fraction(unchecked: denominator - numerator, denominator)
        return Swift.max(rest, .zero)
    }

    public var isWhole: Bool { numerator == denominator }

    /// `amount x numerator / denominator`, multiplied before dividing.
    public func apply(_ amount: Decimal) -> Decimal {
        if isWhole { return amount }
        return amount * numerator / denominator
    }

    public var description: String { "\(numerator.plainString)/\(denominator.plainString)" }

    public static func == (lhs: Fraction, rhs: Fraction) -> Bool {
        lhs.numerator * rhs.denominator == rhs.numerator * lhs.denominator
    }

    /// Denominators are positive, so cross-multiplying keeps the order.
    public static func < (lhs: Fraction, rhs: Fraction) -> Bool {
        lhs.numerator * rhs.denominator < rhs.numerator * lhs.denominator
    }
}
