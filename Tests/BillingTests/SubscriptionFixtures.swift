import Foundation
@testable import Billing

/// Plans built in code for the timeline tests, so each test reads its numbers off one place.
enum Plans {
    static let requests = Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count)
    static let tokens = Meter(slug: "tokens", name: "Tokens", eventType: "llm.tokens", aggregation: .sum, valueProperty: "$.tokens")
    static let catalog = Catalog(
        meters: [requests, tokens],
        features: [Feature(key: "api_requests", name: "API requests", meterSlug: "api_requests"),
                   Feature(key: "tokens", name: "Tokens", meterSlug: "tokens")],
        plans: [])

    static let monthly = ISODuration("P1M")!

    static func fee(_ amount: String, key: String = "platform_fee", term: PaymentTerm = .inAdvance,
                    cadence: ISODuration? = monthly, behavior: TaxBehavior = .exclusive,
                    discount: String? = nil) -> RateCard {
        RateCard(type: .flatFee, key: key, name: "Platform fee", billingCadence: cadence,
                 price: .flat(amount: d(amount), paymentTerm: term), taxConfig: TaxConfig(behavior: behavior),
                 discounts: Discounts(percentage: discount.map(d)))
    }

    static func requestsCard(_ price: Price?, quota: String? = nil, soft: Bool = false,
                             free: String? = nil, percentage: String? = nil) -> RateCard {
        RateCard(type: .usageBased, key: "api_requests", name: "API requests", featureKey: "api_requests",
                 billingCadence: monthly, price: price,
                 entitlementTemplate: quota.map { .metered(MeteredEntitlement(issueAfterReset: d($0), isSoftLimit: soft)) },
                 discounts: Discounts(percentage: percentage.map(d), usageQuantity: free.map(d)))
    }

    static func plan(_ key: String, _ cards: [RateCard], currency: Currency = .usd,
                     mode: ProRatingMode = .maxConsumptionBased, enabled: Bool = true) -> Plan {
        Plan(key: key, name: key.capitalized, currency: currency, billingCadence: monthly,
             proRating: ProRatingConfig(enabled: enabled, mode: mode),
             phases: [Phase(key: "default", name: "Default", rateCards: cards)])
    }

    /// Starter: 29.00 a month in advance, 10,000 requests included (hard limit), no usage price.
    static func starter(mode: ProRatingMode = .maxConsumptionBased, enabled: Bool = true) -> Plan {
        plan("starter", [fee("29.00"), requestsCard(nil, quota: "10000")], mode: mode, enabled: enabled)
    }

    /// Pro: 99.00 a month in advance, requests at 0.002 each.
    static let pro = plan("pro", [fee("99.00"), requestsCard(.unit(amount: d("0.002"), commitments: Commitments()))])

    /// Trial: 14 free days, then 49.00 a month.
    static let trial = Plan(
        key: "team", name: "Team", currency: .usd, billingCadence: monthly,
        phases: [
            Phase(key: "trial", name: "Trial", duration: ISODuration("P14D")!, rateCards: [fee("0.00")]),
            Phase(key: "default", name: "Default", rateCards: [fee("49.00")]),
        ])
}

/// Builds usage records for one subscription.
struct Usage {
    var records: [UsageRecord] = []

    mutating func add(_ count: Int, _ meter: Meter = Plans.requests, subscription: String, at time: Instant, value: Decimal = 1) {
        for _ in 0..<count {
            records.append(UsageRecord(meterSlug: meter.slug, subscriptionId: subscription, time: time, value: value))
        }
    }

    var source: RecordedUsage { RecordedUsage(records) }
}

func assembler(_ usage: Usage = Usage()) -> InvoiceAssembler {
    InvoiceAssembler(catalog: Plans.catalog, usage: usage.source)
}

func draft(_ subscriptions: [Subscription], at billDate: Instant, usage: Usage = Usage(),
           carried: [CarriedCredit] = [], billed: [ChargeKey: Decimal] = [:]) -> DraftInvoice {
    // Recorded usage is a list in memory: reading it cannot fail.
    try! assembler(usage).draft(InvoiceRequest(customerKey: "acme", currency: .usd, billDate: billDate,
                                          subscriptions: subscriptions, billedCharges: billed, carriedCredits: carried))
}

/// (kind, amount) pairs, the shape most assertions compare.
func amounts(_ invoice: DraftInvoice) -> [String] {
    invoice.lines.map { "\($0.kind.rawValue) \($0.amount.plainString)" }
}
