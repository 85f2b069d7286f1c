import Foundation

/// One rate card's charge for one billing period: the usage line U, the discount line D and
/// the commitment line C, each already rounded to the currency's billing scale.
public struct UsageCharge: Hashable, Sendable {
    /// U = round(price(billable quantity)); for a flat price, round(amount x part / whole).
    public let usage: Decimal
    /// D = -round(U x percentage / 100); 0 without a percentage discount.
    public let discount: Decimal
    /// C: the top-up to the prorated minimum (positive) or the cut to the prorated maximum
    /// (negative); 0 when U + D lies between them.
    public let commitment: Decimal
    public let explanation: PriceExplanation

    public init(usage: Decimal, discount: Decimal, commitment: Decimal, explanation: PriceExplanation) {
        self.usage = usage
        self.discount = discount
        self.commitment = commitment
        self.explanation = explanation
    }

    /// U + D + C: the sum of rounded lines.
    public var total: Decimal { usage + discount + commitment }
}

/// Every number `UsageRater` used for a charge, so a report can explain each line.
public struct PriceExplanation: Hashable, Sendable {
    public let currency: Currency
    /// The period's metered quantity.
    public let quantity: Decimal
    /// The `usage` discount's free units for the period (0 without one), in full even when the
    /// period is partial.
    public let freeUnits: Decimal
    /// max(0, quantity - free units): what the pricer priced.
    public let billableQuantity: Decimal
    /// The pricer's exact result for the billable quantity.
    public let priced: PricedAmount
    /// The share of the period billed; it prorates flat prices and the commitments.
    public let fraction: TimeFraction
    /// The usage line before rounding (the flat amount x fraction for a flat price).
    public let unroundedUsage: Decimal
    public let percentage: Decimal?
    public let minimumAmount: Decimal?
    public let maximumAmount: Decimal?
    /// minimumAmount x part / whole, not rounded (the commitment line is rounded once).
    public let proratedMinimum: Decimal?
    /// maximumAmount x part / whole, not rounded.
    public let proratedMaximum: Decimal?

    public init(currency: Currency, quantity: Decimal, freeUnits: Decimal, billableQuantity: Decimal,
                priced: PricedAmount, fraction: TimeFraction, unroundedUsage: Decimal, percentage: Decimal?,
                minimumAmount: Decimal?, maximumAmount: Decimal?) {
        self.currency = currency
        self.quantity = quantity
        self.freeUnits = freeUnits
        self.billableQuantity = billableQuantity
        self.priced = priced
        self.fraction = fraction
        self.unroundedUsage = unroundedUsage
        self.percentage = percentage
        self.minimumAmount = minimumAmount
        self.maximumAmount = maximumAmount
        self.proratedMinimum = minimumAmount.map(fraction.apply)
        self.proratedMaximum = maximumAmount.map(fraction.apply)
    }

    public var unitPrice: Decimal? {
        if case .unit(_, let unitPrice) = priced.detail { return unitPrice }
        return nil
    }

    public var tiers: [TierCharge] {
        if case .tiered(_, _, let tiers) = priced.detail { return tiers }
        return []
    }

    public var packages: Decimal? {
        if case .package(_, _, let packages, _) = priced.detail { return packages }
        return nil
    }

    public var multiplier: Decimal? {
        if case .dynamic(_, let multiplier) = priced.detail { return multiplier }
        return nil
    }

    /// The usage line in one line: "2,000 used - 1,000 free; tiers: 1,000 x 0.10",
    /// "flat 29.00 x 109/232".
    public var summary: String {
        var text = priced.summary(in: currency)
        if freeUnits > 0 {
            text = "\(PriceText.grouped(quantity)) used - \(PriceText.grouped(freeUnits)) free; " + text
        }
        switch priced.detail {
        case .flat where !fraction.isWhole:
            text += " x \(fraction)"
        case .flat, .unit, .tiered, .package, .dynamic:
            break
        }
        return text
    }

    /// The commitment that applied, e.g. "minimum 500.00 x 1/2", or nil when none did.
    public func commitmentSummary(for commitment: Decimal) -> String? {
        let bound: (String, Decimal?)
        if commitment > 0 {
            bound = ("minimum", minimumAmount)
        } else if commitment < 0 {
            bound = ("maximum", maximumAmount)
        } else {
            return nil
        }
        guard let amount = bound.1 else { return nil }
        let text = "\(bound.0) \(PriceText.grouped(amount, minimumDecimals: currency.billingScale))"
        return fraction.isWhole ? text : "\(text) x \(fraction)"
    }
}

/// The ordered charge step for one rate card and one billing period (DESIGN.md, "Rules the
/// numbers follow" and "Precise readings"). Each step works on the rounded result of the one
/// before; rounding is half away from zero to the currency's billing scale.
public enum UsageRater {
    /// Free units -> price -> U -> D -> C.
    ///
    /// - free units come off the quantity before pricing, in full for every period, partial or not;
    /// - U = round(price(max(0, quantity - free units))); a flat price is prorated by `fraction`
    ///   first, as `fee` does;
    /// - D = -round(U x percentage / 100);
    /// - C = max(0, round(minimum x part / whole - (U + D))), else
    ///   min(0, round(maximum x part / whole - (U + D))), the bounds never rounded on their own.
    public static func rate(price: Price, discounts: Discounts, quantity: Decimal, fraction: TimeFraction,
                            currency: Currency) -> UsageCharge {
        let scale = currency.billingScale
        let freeUnits = Swift.max(0, discounts.usageQuantity ?? 0)
        let billable = Swift.max(0, quantity - freeUnits)
        let priced = price.pricer.price(billable)
        let unrounded: Decimal
        switch price {
        case .flat:
            unrounded = fraction.apply(priced.amount)
        case .unit, .tiered, .package, .dynamic:
            unrounded = priced.amount
        }
        let usage = unrounded.rounded(scale: scale)
        let discount = percentageDiscount(of: usage, percentage: discounts.percentage, scale: scale)
        let commitments = price.commitments
        let commitment = commitmentLine(settled: usage + discount, commitments: commitments, fraction: fraction,
                                        scale: scale)
        let explanation = PriceExplanation(
            currency: currency, quantity: quantity, freeUnits: freeUnits, billableQuantity: billable, priced: priced,
            fraction: fraction, unroundedUsage: unrounded, percentage: discounts.percentage,
            minimumAmount: commitments.minimumAmount, maximumAmount: commitments.maximumAmount)
        return UsageCharge(usage: usage, discount: discount, commitment: commitment, explanation: explanation)
    }

    /// A flat fee for `fraction` of its period: fee = round(amount x part / whole),
    /// discount = -round(fee x percentage / 100). Free units do not apply to a fee.
    public static func fee(amount: Decimal, discounts: Discounts, fraction: TimeFraction,
                           currency: Currency) -> (fee: Decimal, discount: Decimal) {
        fee(amount: amount, discounts: discounts, fraction: fraction.fraction, currency: currency)
    }

    /// The same over any exact fraction, e.g. a `max_consumption_based` credit's
    /// `max(elapsed, quota used).cappedAtOne.remainder`.
    public static func fee(amount: Decimal, discounts: Discounts, fraction: Fraction,
                           currency: Currency) -> (fee: Decimal, discount: Decimal) {
        let scale = currency.billingScale
        let fee = fraction.apply(amount).rounded(scale: scale)
        return (fee, percentageDiscount(of: fee, percentage: discounts.percentage, scale: scale))
    }

    static func percentageDiscount(of amount: Decimal, percentage: Decimal?, scale: Int) -> Decimal {
        guard let percentage, percentage != 0 else { return 0 }
        let off = (amount * percentage / 100).rounded(scale: scale)
        return off == 0 ? 0 : 0 - off
    }

    /// Rounds `bound x part / whole - settled` once; computed over a single division so a
    /// terminating value (10.005 - 20.00 = -9.995) is exact and rounds the way DESIGN.md says.
    static func commitmentLine(settled: Decimal, commitments: Commitments, fraction: TimeFraction,
                               scale: Int) -> Decimal {
        func gap(to bound: Decimal) -> Decimal {
            let whole = Decimal(fraction.whole)
            return ((bound * Decimal(fraction.part) - settled * whole) / whole).rounded(scale: scale)
        }
        if let minimum = commitments.minimumAmount {
            let shortfall = gap(to: minimum)
            if shortfall > 0 { return shortfall }
        }
        if let maximum = commitments.maximumAmount {
            let excess = gap(to: maximum)
            if excess < 0 { return excess }
        }
        return 0
    }
}
