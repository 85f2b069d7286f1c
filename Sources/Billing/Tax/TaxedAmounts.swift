import Foundation

/// What the invoice totals need from a line: its rounded amount and tax.
public struct TaxedLine: Hashable, Sendable {
    public var amount: Decimal
    public var tax: Decimal
    public var behavior: TaxBehavior

    public init(amount: Decimal, tax: Decimal, behavior: TaxBehavior) {
        self.amount = amount
        self.tax = tax
        self.behavior = behavior
    }
}

/// An invoice's subtotal, tax and total: sums of already rounded lines, never rounded again.
public struct TaxedAmounts: Hashable, Sendable {
    /// The sum of the line amounts (inclusive lines count with their tax inside).
    public let subtotal: Decimal
    /// The sum of the line taxes, inclusive and exclusive.
    public let tax: Decimal
    /// subtotal + the tax of exclusive lines: inclusive tax is already in the subtotal.
    public let total: Decimal

    public init(lines: [TaxedLine]) {
        var subtotal: Decimal = 0, tax: Decimal = 0, exclusiveTax: Decimal = 0
        for line in lines {
            subtotal += line.amount
            tax += line.tax
            switch line.behavior {
            case .exclusive: exclusiveTax += line.tax
            case .inclusive: break
            }
        }
        self.subtotal = subtotal
        self.tax = tax
        self.total = subtotal + exclusiveTax
    }
}
