import Foundation

/// An exact metered number. Integers that fit in `Int64` stay on the integer case, because
/// `Decimal` arithmetic is two orders of magnitude slower and almost every metered value
/// (tokens, bytes, requests) is an integer.
///
/// Parsing always produces the canonical case (an integral value within `Int64` is `.integer`),
/// so equal numbers compare equal; arithmetic keeps that invariant.
public enum MeterNumber: Hashable, Sendable, Comparable, CustomStringConvertible {
    case integer(Int64)
    /// A value that is not an integer within `Int64` (12.5, 10^20).
    case decimal(Decimal)

    public static let zero = MeterNumber.integer(0)

    /// The canonical number for `value`.
    public init(_ value: Decimal) {
        var compact = value
        NSDecimalCompact(&compact)
        if compact.exponent >= 0, compact >= MeterNumber.int64Min, compact <= MeterNumber.int64Max {
            self = .integer(NSDecimalNumber(decimal: compact).int64Value)
        } else {
            self = .decimal(compact)
        }
    }

    public var decimal: Decimal {
        switch self {
        case .integer(let value): return Decimal(value)
        case .decimal(let value): return value
        }
    }

    /// The canonical decimal text ("12.5", "1000"), which UNIQUE_COUNT counts and group-by keys use.
    public var description: String {
        switch self {
        case .integer(let value): return String(value)
        case .decimal(let value): return value.plainString
        }
    }

    public static func + (lhs: MeterNumber, rhs: MeterNumber) -> MeterNumber {
        if case .integer(let a) = lhs, case .integer(let b) = rhs {
            let (sum, overflow) = a.addingReportingOverflow(b)
            if !overflow { return .integer(sum) }
        }
        return MeterNumber(lhs.decimal + rhs.decimal)
    }

    public static func < (lhs: MeterNumber, rhs: MeterNumber) -> Bool {
        if case .integer(let a) = lhs, case .integer(let b) = rhs { return a < b }
        return lhs.decimal < rhs.decimal
    }

    static let int64Max = Decimal(Int64.max)
    static let int64Min = Decimal(Int64.min)
    /// Foundation's `Decimal` holds 38 significant digits and a power of ten in -128...127.
    static let maxDigits = 38

    /// The result of reading a JSON number's text.
    enum Parsed: Hashable, Sendable {
        case number(MeterNumber)
        /// JSON number grammar, but more digits or a larger exponent than `Decimal` holds.
        case unrepresentable
        /// Not a JSON number at all.
        case invalid
    }

    /// Reads a JSON number (RFC 8259 grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`)
    /// exactly, without going through `Double`.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Parsed {
        let n = bytes.count
        var i = 0
        var negative = false
        if i < n, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        // Significant digits are collected without leading zeros; `scale` counts fraction digits.
        var intDigits = 0
        guard i < n, isDigit(bytes[i]) else { return .invalid }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < n, isDigit(bytes[i]) { return .invalid }
        } else {
            while i < n, isDigit(bytes[i]) { i += 1; intDigits += 1 }
        }
        let intEnd = i
        var fracStart = i, fracEnd = i
        if i < n, bytes[i] == UInt8(ascii: ".") {
            i += 1
            fracStart = i
            while i < n, isDigit(bytes[i]) { i += 1 }
            fracEnd = i
            guard fracEnd > fracStart else { return .invalid }
        }
        var exponent = 0
        if i < n, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if i < n, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
                expNegative = bytes[i] == UInt8(ascii: "-"); i += 1
            }
            guard i < n, isDigit(bytes[i]) else { return .invalid }
            while i < n, isDigit(bytes[i]) {
                if exponent < 100_000 { exponent = exponent * 10 + Int(bytes[i] - 48) }
                i += 1
            }
            if expNegative { exponent = -exponent }
        }
        guard i == n else { return .invalid }

        // Fast path: a plain integer of at most 18 digits always fits in Int64.
        if fracEnd == fracStart, exponent == 0, intDigits <= 18 {
            var value: Int64 = 0
            for k in (intEnd - intDigits)..<intEnd { value = value &* 10 &+ Int64(bytes[k] &- 48) }
            return .number(.integer(negative ? -value : value))
        }

        // General path: value = digits x 10^(exponent - fraction digits), digits without
        // leading or trailing zeros.
        var power = exponent - (fracEnd - fracStart)
        var first = -1, last = -1, significant = 0
        func visit(_ k: Int) {
            if bytes[k] != UInt8(ascii: "0") { if first < 0 { first = k }; last = k }
        }
        for k in (intEnd - intDigits)..<intEnd { visit(k) }
        for k in fracStart..<fracEnd { visit(k) }
        guard first >= 0 else { return .number(.zero) }
        // Trailing zeros after the last non-zero digit move into the power of ten.
        power += (last < intEnd ? (intEnd - 1 - last) + (fracEnd - fracStart) : fracEnd - 1 - last)
        var mantissa: UInt64 = 0
        for k in first...last where isDigit(bytes[k]) {
            significant += 1
            if significant <= 19 { mantissa = mantissa * 10 + UInt64(bytes[k] - 48) }
        }
        guard significant <= maxDigits else { return .unrepresentable }
        if power >= 0, significant + power <= 18 {
            var value = Int64(mantissa)
            for _ in 0..<power { value *= 10 }
            return .number(.integer(negative ? -value : value))
        }
        guard power >= -128, power <= 127 else { return .unrepresentable }
        let significand = significant <= 19 ? Decimal(mantissa)
            : Decimal(string: String(decoding: (first...last).map { bytes[$0] }.filter(isDigit), as: UTF8.self))!
        let value = Decimal(sign: negative ? .minus : .plus, exponent: power, significand: significand)
        // Integral here means 19 or more digits: within Int64 only near its limits.
        return .number(power >= 0 ? MeterNumber(value) : .decimal(value))
    }

    static func parse(_ text: String) -> Parsed {
        var text = text
        return text.withUTF8 { parse(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    static func isDigit(_ b: UInt8) -> Bool { b &- 48 < 10 }
}
