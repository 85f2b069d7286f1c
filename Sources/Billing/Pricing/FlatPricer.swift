import Foundation

/// A flat price: its amount, whatever the quantity.
///
/// It does not prorate. A partial period's share is a time fraction that the charge step
/// (`UsageRater.fee` and `UsageRater.rate`) applies to this amount, so every proration in the
/// system goes through the same multiply-before-divide code and the pricer stays quantity-only.
public struct FlatPricer: Pricer {
    public let amount: Decimal

    public init(amount: Decimal) {
        self.amount = amount
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        PricedAmount(amount: amount, detail: .flat(amount: amount))
    }
}
