import Foundation

/// One line of an invoice, with the numbers it came from.
public struct InvoiceLine: Hashable, Sendable {
    public var kind: LineKind
    public var subscriptionId: String?
    public var rateCardKey: String?
    public var featureKey: String?
    public var description: String
    /// The service period the line bills (for a credit: the unused part).
    public var period: Period
    public var quantity: Decimal?
    /// Rounded once to the currency's billing scale.
    public var amount: Decimal
    public var taxBehavior: TaxBehavior
    public var taxCode: String?
    public var taxAmount: Decimal
    /// How the amount was computed: tiers, free units, fractions (for reports).
    public var detail: String

    public init(kind: LineKind, subscriptionId: String?, rateCardKey: String?, featureKey: String? = nil,
                description: String, period: Period, quantity: Decimal? = nil, amount: Decimal,
                taxBehavior: TaxBehavior = .exclusive, taxCode: String? = nil, taxAmount: Decimal = 0, detail: String = "") {
        self.kind = kind
        self.subscriptionId = subscriptionId
        self.rateCardKey = rateCardKey
        self.featureKey = featureKey
        self.description = description
        self.period = period
        self.quantity = quantity
        self.amount = amount
        self.taxBehavior = taxBehavior
        self.taxCode = taxCode
        self.taxAmount = taxAmount
        self.detail = detail
    }

    /// Credit lines are applied against charges and never make an invoice negative.
    public var isCredit: Bool {
        switch kind {
        case .prorationCredit, .lateUsage, .adjustment: return amount < 0
        case .fee, .usage, .prorationCharge, .discount, .commitment: return false
        }
    }
}

/// A credit that an earlier invoice could not absorb, carried to the customer's next invoice.
public struct CarriedCredit: Hashable, Sendable {
    /// The line it continues.
    public var line: InvoiceLine
    /// The bill date of the invoice it was first billed on: older credits apply first.
    public var originBillDate: Instant

    public init(line: InvoiceLine, originBillDate: Instant) {
        self.line = line
        self.originBillDate = originBillDate
    }
}

/// Identifies the charge of one usage rate card for one service period.
public struct ChargeKey: Hashable, Sendable {
    public var subscriptionId: String
    public var rateCardKey: String
    public var periodStart: Instant

    public init(subscriptionId: String, rateCardKey: String, periodStart: Instant) {
        self.subscriptionId = subscriptionId
        self.rateCardKey = rateCardKey
        self.periodStart = periodStart
    }
}

/// A draft invoice: one per customer per bill date.
public struct DraftInvoice: Hashable, Sendable {
    public var customerKey: String
    public var currency: Currency
    public var billDate: Instant
    public var lines: [InvoiceLine]
    /// Credits left over for the customer's next invoice.
    public var carriedCredits: [CarriedCredit]

    public init(customerKey: String, currency: Currency, billDate: Instant, lines: [InvoiceLine],
                carriedCredits: [CarriedCredit] = []) {
        self.customerKey = customerKey
        self.currency = currency
        self.billDate = billDate
        self.lines = lines
        self.carriedCredits = carriedCredits
    }

    /// Subtotal, tax and total: sums of the rounded lines.
    public var amounts: TaxedAmounts {
        TaxedAmounts(lines: lines.map { TaxedLine(amount: $0.amount, tax: $0.taxAmount, behavior: $0.taxBehavior) })
    }
    public var subtotal: Decimal { amounts.subtotal }
    public var tax: Decimal { amounts.tax }
    /// Subtotal plus the tax of exclusive lines (inclusive tax is inside the amounts).
    public var total: Decimal { amounts.total }

    /// The span of the lines' service periods.
    public var servicePeriod: Period? {
        guard let first = lines.first else { return nil }
        return lines.dropFirst().reduce(first.period) {
            Period(start: min($0.start, $1.period.start), end: max($0.end, $1.period.end))
        }
    }
}
