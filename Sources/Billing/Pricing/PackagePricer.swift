import Foundation

/// A package price: ceil(quantity / quantityPerPackage) x amount; a started package is a whole one.
public struct PackagePricer: Pricer {
    public let amount: Decimal
    public let quantityPerPackage: Decimal

    /// The catalog refuses a package size that is not positive, so one here is a programming error.
    public init(amount: Decimal, quantityPerPackage: Decimal) {
        precondition(quantityPerPackage > 0, "quantityPerPackage must be positive, got \(quantityPerPackage.plainString)")
        self.amount = amount
        self.quantityPerPackage = quantityPerPackage
    }

    public func price(_ quantity: Decimal) -> PricedAmount {
        let count = packages(for: quantity)
        return PricedAmount(
            amount: count * amount,
            detail: .package(quantity: quantity, quantityPerPackage: quantityPerPackage, packages: count,
                             packageAmount: amount))
    }

    /// ceil(quantity / size). The quotient is rounded to 38 digits, so the ceiling is checked by
    /// multiplying back, which is exact: n is the least whole number with n x size >= quantity.
    func packages(for quantity: Decimal) -> Decimal {
        guard quantity > 0 else { return 0 }
        var count = (quantity / quantityPerPackage).ceiling
        while count > 0, (count - 1) * quantityPerPackage >= quantity { count -= 1 }
        while count * quantityPerPackage < quantity { count += 1 }
        return count
    }
}
