import Foundation

/// Everything that goes on one customer's invoice for one bill date.
public struct InvoiceRequest: Sendable {
    public var customerKey: String
    public var currency: Currency
    public var billDate: Instant
    /// The customer's subscriptions that may bill at the bill date (others bill nothing).
    public var subscriptions: [Subscription]
    /// Usage charges of periods billed on earlier invoices that have seen late events: what
    /// those periods' usage, discount, commitment and late usage lines already billed.
    public var billedCharges: [ChargeKey: Decimal]
    /// Credits earlier invoices could not absorb.
    public var carriedCredits: [CarriedCredit]
    /// Manual `adjustment` lines (positive or negative).
    public var adjustments: [InvoiceLine]

    public init(customerKey: String, currency: Currency, billDate: Instant, subscriptions: [Subscription],
                billedCharges: [ChargeKey: Decimal] = [:], carriedCredits: [CarriedCredit] = [],
                adjustments: [InvoiceLine] = []) {
        self.customerKey = customerKey
        self.currency = currency
        self.billDate = billDate
        self.subscriptions = subscriptions
        self.billedCharges = billedCharges
        self.carriedCredits = carriedCredits
        self.adjustments = adjustments
    }
}

/// Builds one customer's draft invoice for one bill date: the lines every subscription bills,
/// late usage, adjustments, then credits applied until the subtotal reaches zero.
public struct InvoiceAssembler {
    public let biller: SubscriptionBiller

    public init(biller: SubscriptionBiller) { self.biller = biller }

    public init(catalog: Catalog, usage: any UsageSource) {
        self.biller = SubscriptionBiller(catalog: catalog, usage: usage)
    }

    /// The draft invoice for `request`. It may have no lines (nothing due): then no invoice is
    /// made, but its `carriedCredits` must still be kept.
    public func draft(_ request: InvoiceRequest) throws -> DraftInvoice {
        var lines = try request.subscriptions
            .sorted { ($0.start, $0.id) < ($1.start, $1.id) }
            .flatMap { try biller.lines(for: $0, at: request.billDate) }
        lines += try lateUsageLines(request)
        lines += request.adjustments
        return Credits.apply(to: DraftInvoice(customerKey: request.customerKey, currency: request.currency,
                                              billDate: request.billDate, lines: lines),
                             carried: request.carriedCredits)
    }

    /// A `late_usage` line per period whose charge, recomputed with every event stored now,
    /// differs from what was billed: tiers, discounts and caps see all the period's usage.
    func lateUsageLines(_ request: InvoiceRequest) throws -> [InvoiceLine] {
        let subscriptions = Dictionary(request.subscriptions.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let keys = request.billedCharges.keys.sorted {
            ($0.subscriptionId, $0.rateCardKey, $0.periodStart) < ($1.subscriptionId, $1.rateCardKey, $1.periodStart)
        }
        return try keys.compactMap { key in
            guard let subscription = subscriptions[key.subscriptionId], let billed = request.billedCharges[key],
                  let charge = try biller.recomputedCharge(key, subscription: subscription),
                  charge.period.end < request.billDate else { return nil }
            let difference = charge.total - billed
            guard difference != 0 else { return nil }
            let currency = subscription.plan.currency
            return InvoiceLine(kind: .lateUsage, subscriptionId: subscription.id, rateCardKey: key.rateCardKey,
                               featureKey: charge.card.featureKey, description: "\(charge.card.name), late usage",
                               period: charge.period, amount: difference, taxBehavior: charge.card.taxConfig.behavior,
                               taxCode: charge.card.taxConfig.stripeCode,
                               detail: "recomputed \(Money(charge.total, currency).formatted) - billed \(Money(billed, currency).formatted)")
        }
    }
}

/// Applies credit lines so an invoice never goes below zero, carrying the rest forward.
public enum Credits {
    /// Carried credits first, oldest first (ties by rate card key, then service period start),
    /// then the invoice's own credit lines in rate card key order (ties by period start). Each
    /// is applied until the subtotal reaches zero; what is left carries to the next invoice as
    /// a line of the same kind and rate card.
    public static func apply(to draft: DraftInvoice, carried: [CarriedCredit]) -> DraftInvoice {
        let charges = draft.lines.filter { !$0.isCredit }
        let fresh = draft.lines.filter(\.isCredit)
            .sorted { ($0.rateCardKey ?? "", $0.period.start) < ($1.rateCardKey ?? "", $1.period.start) }
            .map { CarriedCredit(line: $0, originBillDate: draft.billDate) }
        let queue = carried.sorted {
            ($0.originBillDate, $0.line.rateCardKey ?? "", $0.line.period.start)
                < ($1.originBillDate, $1.line.rateCardKey ?? "", $1.line.period.start)
        } + fresh

        var available = charges.reduce(Decimal(0)) { $0 + $1.amount }
        var applied: [InvoiceLine] = []
        var left: [CarriedCredit] = []
        for credit in queue {
            let amount = max(credit.line.amount, -max(available, 0))
            available += amount
            if amount != 0 {
                var line = credit.line
                line.amount = amount
                applied.append(line)
            }
            if amount != credit.line.amount {
                var rest = credit
                rest.line.amount = credit.line.amount - amount
                left.append(rest)
            }
        }
        var result = draft
        result.lines = charges + applied
        result.carriedCredits = left
        return result
    }
}

/// Tax on every line of a draft invoice, then the zero-total rule.
public enum InvoiceTax {
    /// Sets each line's tax from `decision` (negative lines carry negative tax). If the total
    /// (subtotal + exclusive tax) is still below zero, the tax of the last exclusive credit
    /// line applied is raised by the shortfall so the total is zero.
    public static func apply(_ decision: TaxDecision, to draft: DraftInvoice) -> DraftInvoice {
        apply(taxes: draft.lines.map { decision.tax(amount: $0.amount, behavior: $0.taxBehavior, currency: draft.currency) }, to: draft)
    }

    /// Sets each line's tax to the one given for it (a tax provider's answer, in line order),
    /// then applies the zero-total rule as above.
    public static func apply(taxes: [Decimal], to draft: DraftInvoice) -> DraftInvoice {
        precondition(taxes.count == draft.lines.count, "one tax per line")
        var result = draft
        for index in result.lines.indices { result.lines[index].taxAmount = taxes[index] }
        let shortfall = result.total
        if shortfall < 0 {
            let exclusive = result.lines.indices.filter { result.lines[$0].taxBehavior == .exclusive }
            if let index = exclusive.last(where: { result.lines[$0].isCredit }) ?? exclusive.last(where: { result.lines[$0].amount < 0 }) {
                result.lines[index].taxAmount -= shortfall
            }
        }
        return result
    }
}
