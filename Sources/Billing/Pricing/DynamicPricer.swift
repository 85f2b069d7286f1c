import Foundation

/// A dynamic price: the metered quantity is itself money (e.g. upstream cost), times a multiplier.
public struct DynamicPricer: Pricer {
    public let multiplier: Decimal

    public init(multiplier: Decimal) {
        self.multiplier = multiplier
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        PricedAmount(amount: quantity * multiplier, detail: .dynamic(quantity: quantity, multiplier: multiplier))
    }
}
