import Foundation

/// A unit price: quantity x unit price.
public struct UnitPricer: Pricer {
    public let unitPrice: Decimal

    public init(unitPrice: Decimal) {
        self.unitPrice = unitPrice
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        PricedAmount(amount: quantity * unitPrice, detail: .unit(quantity: quantity, unitPrice: unitPrice))
    }
}
