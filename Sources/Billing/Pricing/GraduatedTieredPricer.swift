import Foundation

/// Graduated tiers: each tier prices the units inside it, as Stripe's `graduated` mode.
///
/// A tier holds the quantities in (previous bound, upToAmount]. Its flat price is charged when
/// any unit, or part of a unit, falls in it, so zero usage charges nothing. Bounds compare as
/// exact decimals, so fractional quantities (token sums, AVG meters) split exactly.
/// Tiers are read in catalog order; the last tier takes every unit beyond the previous bound
/// even if it carries an `upToAmount`, so no unit is ever left unpriced.
public struct GraduatedTieredPricer: Pricer {
    public let tiers: [Tier]

    public init(tiers: [Tier]) {
        self.tiers = tiers
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        var charges: [TierCharge] = []
        var lower: Decimal = 0
        for (index, tier) in tiers.enumerated() where quantity > lower {
            let upper = index == tiers.count - 1 ? nil : tier.upToAmount
            let units = (upper.map { Swift.min(quantity, $0) } ?? quantity) - lower
            if units > 0 {
                charges.append(TierCharge(number: index + 1, lowerBound: lower, upperBound: upper, units: units,
                                          unitPrice: tier.unitPrice, flatPrice: tier.flatPrice))
            }
            guard let upper else { break }
            lower = Swift.max(lower, upper)
        }
        let amount = charges.reduce(Decimal(0)) { $0 + $1.amount }
        return PricedAmount(amount: amount,
                            detail: .tiered(mode: .graduated, quantity: quantity, tiers: charges))
    }
}
