import Foundation

/// A part of a billing period, in whole seconds: `part` seconds out of `whole`.
///
/// Kept as two integers so nothing is divided until an amount is: `apply` multiplies before it
/// divides (29.00 x 109 / 232 = 13.625 exactly), and two fractions compare by cross-multiplying,
/// so `max(elapsed, quotaUsed)` is decided exactly (see `Fraction` for quota fractions).
///
/// Equality is by value: 1/2 == 3600/7200. `part` and `whole` stay as given (not reduced), so a
/// report can still say how many seconds were served.
public struct TimeFraction: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let part: Int64
    public let whole: Int64

    /// The whole period.
    public static let one = TimeFraction(part: 1, whole: 1)

    public init(part: Int64, whole: Int64) {
        precondition(whole > 0, "a time fraction needs a period of positive length, got \(whole) seconds")
        precondition(part >= 0, "a time fraction cannot be negative, got \(part) seconds")
        self.part = part
        self.whole = whole
    }

    /// The share of `whole` that `part` covers, in seconds.
    public init(_ part: Period, of whole: Period) {
        self.init(part: part.seconds, whole: whole.seconds)
    }

    /// True when the fraction covers the whole period (no proration).
    public var isWhole: Bool { part == whole }

    /// The rest of the period: 1 - self (what an unused in-advance fee credits back).
    public var remainder: TimeFraction {
        TimeFraction(part: Swift.max(0, whole - part), whole: whole)
    }

    /// `amount x part / whole`, multiplied before dividing so a terminating result stays exact.
    public func apply(_ amount: Decimal) -> Decimal {
        if isWhole { return amount }
        return amount * Decimal(part) / Decimal(whole)
    }

    /// The same fraction over decimals, to compare with a quota fraction.
    public var fraction: Fraction { Fraction(self) }

    /// "15/30 days" when both are whole days (how a finance reader counts), else "109/232 s".
    public var description: String {
        if part % 86_400 == 0, whole % 86_400 == 0 { return "\(part / 86_400)/\(whole / 86_400) days" }
        return "\(part)/\(whole) s"
    }

    public static func == (lhs: TimeFraction, rhs: TimeFraction) -> Bool {
        compare(lhs, rhs) == 0
    }

    public static func < (lhs: TimeFraction, rhs: TimeFraction) -> Bool {
        compare(lhs, rhs) < 0
    }

    /// Hashes the reduced fraction so equal values hash alike.
    public func hash(into hasher: inout Hasher) {
        let divisor = TimeFraction.gcd(part, whole)
        hasher.combine(part / divisor)
        hasher.combine(whole / divisor)
    }

    /// Sign of lhs - rhs, by cross-multiplication in double width: seconds never overflow it.
    private static func compare(_ lhs: TimeFraction, _ rhs: TimeFraction) -> Int {
        let left = lhs.part.multipliedFullWidth(by: rhs.whole)
        let right = rhs.part.multipliedFullWidth(by: lhs.whole)
        if left.high != right.high { return left.high < right.high ? -1 : 1 }
        if left.low != right.low { return left.low < right.low ? -1 : 1 }
        return 0
    }

    private static func gcd(_ a: Int64, _ b: Int64) -> Int64 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return Swift.max(x, 1)
    }
}
