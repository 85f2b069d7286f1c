import Foundation

/// Prices one billing period's billable quantity under one price model.
///
/// A pricer is pure and never rounds: it returns the exact amount and how it was reached.
/// Free units, rounding, discounts, commitments and proration belong to `UsageRater`, which
/// applies them in DESIGN.md's order on the pricer's result.
public protocol Pricer: Sendable {
    /// The unrounded amount for `quantity` units (already net of free units).
    func price(_ quantity: Decimal) -> PricedAmount
}

/// A pricer's result: the exact, unrounded amount and the numbers behind it.
public struct PricedAmount: Hashable, Sendable {
    public let amount: Decimal
    public let detail: PriceDetail

    public init(amount: Decimal, detail: PriceDetail) {
        self.amount = amount
        self.detail = detail
    }

    /// One line for an invoice or report, e.g. "12,345 x 0.002".
    public func summary(in currency: Currency) -> String { detail.summary(in: currency) }
}

/// Where a priced amount came from, one case per price model.
public enum PriceDetail: Hashable, Sendable {
    /// A fixed amount, whatever the quantity (before any proration).
    case flat(amount: Decimal)
    case unit(quantity: Decimal, unitPrice: Decimal)
    /// The tiers that priced something: for graduated every tier the quantity reached, for
    /// volume the one tier holding the total; empty for zero usage.
    case tiered(mode: TieredMode, quantity: Decimal, tiers: [TierCharge])
    case package(quantity: Decimal, quantityPerPackage: Decimal, packages: Decimal, packageAmount: Decimal)
    /// The quantity is itself money (e.g. upstream cost).
    case dynamic(quantity: Decimal, multiplier: Decimal)

    /// The quantity priced (nil for a flat price, which ignores it).
    public var quantity: Decimal? {
        switch self {
        case .flat: return nil
        case .unit(let quantity, _), .tiered(_, let quantity, _), .package(let quantity, _, _, _),
             .dynamic(let quantity, _):
            return quantity
        }
    }

    /// One line: prices are shown with at least the currency's decimals ("0.10"), quantities
    /// as they are, both with thousands separators.
    public func summary(in currency: Currency) -> String {
        let money = { (value: Decimal) in PriceText.grouped(value, minimumDecimals: currency.billingScale) }
        let count = { (value: Decimal) in PriceText.grouped(value) }
        switch self {
        case .flat(let amount):
            return "flat \(money(amount))"
        case .unit(let quantity, let unitPrice):
            return "\(count(quantity)) x \(money(unitPrice))"
        case .tiered(let mode, let quantity, let tiers):
            let label: String
            switch mode {
            case .graduated: label = "tiers"
            case .volume: label = tiers.first.map { "volume tier \($0.number)" } ?? "volume"
            }
            guard !tiers.isEmpty else { return "\(label): \(count(quantity)) units, nothing charged" }
            let parts = tiers.flatMap { tier -> [String] in
                var terms: [String] = []
                if let unitPrice = tier.unitPrice { terms.append("\(count(tier.units)) x \(money(unitPrice))") }
                if let flatPrice = tier.flatPrice { terms.append("\(money(flatPrice)) flat") }
                return terms.isEmpty ? ["\(count(tier.units)) x \(money(0))"] : terms
            }
            return "\(label): " + parts.joined(separator: " + ")
        case .package(let quantity, let perPackage, let packages, let amount):
            return "\(count(quantity)) units = \(count(packages)) x \(count(perPackage))-unit package x \(money(amount))"
        case .dynamic(let quantity, let multiplier):
            return "\(money(quantity)) x \(count(multiplier))"
        }
    }
}

/// What one tier contributed: it holds the quantities in (lowerBound, upperBound].
public struct TierCharge: Hashable, Sendable {
    /// 1-based position in the price's tier list.
    public let number: Int
    /// Exclusive lower bound: the previous tier's `upToAmount`, or 0.
    public let lowerBound: Decimal
    /// Inclusive upper bound; nil for the last, open tier.
    public let upperBound: Decimal?
    /// Units priced in this tier (all units for volume pricing).
    public let units: Decimal
    public let unitPrice: Decimal?
    public let flatPrice: Decimal?
    /// units x unit price + flat price, unrounded.
    public let amount: Decimal

    public init(number: Int, lowerBound: Decimal, upperBound: Decimal?, units: Decimal,
                unitPrice: Decimal?, flatPrice: Decimal?) {
        self.number = number
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.units = units
        self.unitPrice = unitPrice
        self.flatPrice = flatPrice
        self.amount = units * (unitPrice ?? 0) + (flatPrice ?? 0)
    }
}

extension Price {
    /// The pricer for this price model: the one place that maps a price to its pricer.
    public var pricer: any Pricer {
        switch self {
        case .flat(let amount, _):
            return FlatPricer(amount: amount)
        case .unit(let amount, _):
            return UnitPricer(unitPrice: amount)
        case .tiered(let mode, let tiers, _):
            switch mode {
            case .graduated: return GraduatedTieredPricer(tiers: tiers)
            case .volume: return VolumeTieredPricer(tiers: tiers)
            }
        case .package(let amount, let quantityPerPackage, _):
            return PackagePricer(amount: amount, quantityPerPackage: quantityPerPackage)
        case .dynamic(let multiplier, _):
            return DynamicPricer(multiplier: multiplier)
        }
    }
}

/// Deterministic number text for explanations: no locale, "," every three integer digits.
public enum PriceText {
    public static func grouped(_ value: Decimal, minimumDecimals: Int = 0) -> String {
        // Worked on the text's bytes (digits, "-" and ".", all ASCII): an explanation or two per line.
        var bytes = Array(value.plainString.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes.removeFirst() }
        let point = bytes.firstIndex(of: UInt8(ascii: ".")) ?? bytes.count
        let fraction = point < bytes.count ? Array(bytes[(point + 1)...]) : []
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count + point / 3 + minimumDecimals + 2)
        if negative && value != 0 { text.append(UInt8(ascii: "-")) }
        for index in 0..<point {
            if index > 0, (point - index) % 3 == 0 { text.append(UInt8(ascii: ",")) }
            text.append(bytes[index])
        }
        let decimals = Swift.max(fraction.count, minimumDecimals)
        if decimals > 0 {
            text.append(UInt8(ascii: "."))
            text += fraction
            text += Array(repeating: UInt8(ascii: "0"), count: decimals - fraction.count)
        }
        return String(decoding: text, as: UTF8.self)
    }
}
