import Foundation

/// Volume tiers: the tier holding the period's total prices every unit, plus its flat price,
/// as Stripe's `volume` mode. Zero usage charges nothing, not even the first tier's flat price.
///
/// A tier holds the totals in (previous bound, upToAmount]; a total beyond every bound falls in
/// the last tier, so no usage goes unpriced.
public struct VolumeTieredPricer: Pricer {
    public let tiers: [Tier]

    public init(tiers: [Tier]) {
        self.tiers = tiers
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        guard quantity > 0, let index = tierIndex(holding: quantity) else {
            return PricedAmount(amount: 0, detail: .tiered(mode: .volume, quantity: quantity, tiers: []))
        }
        let tier = tiers[index]
        let lower = index == 0 ? 0 : (tiers[index - 1].upToAmount ?? 0)
        let upper = index == tiers.count - 1 ? nil : tier.upToAmount
        let charge = TierCharge(number: index + 1, lowerBound: lower, upperBound: upper, units: quantity,
                                unitPrice: tier.unitPrice, flatPrice: tier.flatPrice)
        return PricedAmount(amount: charge.amount,
                            detail: .tiered(mode: .volume, quantity: quantity, tiers: [charge]))
    }

    private func tierIndex(holding quantity: Decimal) -> Int? {
        guard !tiers.isEmpty else { return nil }
        return tiers.firstIndex { tier in tier.upToAmount.map { quantity <= $0 } ?? true } ?? tiers.count - 1
    }
}
