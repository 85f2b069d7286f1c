import Foundation

/// The product catalog: meters, features and plans, with OpenMeter v1 field names.
public struct Catalog: Hashable, Sendable {
    public var meters: [Meter]
    public var features: [Feature]
    public var plans: [Plan]

    public init(meters: [Meter] = [], features: [Feature] = [], plans: [Plan] = []) {
        self.meters = meters
        self.features = features
        self.plans = plans
    }

    public func meter(slug: String) -> Meter? { meters.first { $0.slug == slug } }
    public func feature(key: String) -> Feature? { features.first { $0.key == key } }

    /// The plan with `key` at `version`, or its latest version when `version` is nil.
    public func plan(key: String, version: Int? = nil) -> Plan? {
        let candidates = plans.filter { $0.key == key }
        if let version { return candidates.first { $0.version == version } }
        return candidates.max { $0.version < $1.version }
    }

    /// The meter behind a rate card's feature, if it is metered.
    public func meter(for rateCard: RateCard) -> Meter? {
        guard let featureKey = rateCard.featureKey, let slug = feature(key: featureKey)?.meterSlug else { return nil }
        return meter(slug: slug)
    }
}

public enum Aggregation: String, Hashable, Sendable, CaseIterable {
    case sum = "SUM"
    case count = "COUNT"
    case uniqueCount = "UNIQUE_COUNT"
    case max = "MAX"
    case min = "MIN"
    case avg = "AVG"
    case latest = "LATEST"
}

public struct Meter: Hashable, Sendable {
    public var slug: String
    public var name: String
    public var eventType: String
    public var aggregation: Aggregation
    /// JSONPath into the event's `data` (`$.tokens`); nil for COUNT.
    public var valueProperty: String?
    /// Group-by name -> JSONPath into `data`.
    public var groupBy: [String: String]

    public init(slug: String, name: String, eventType: String, aggregation: Aggregation,
                valueProperty: String? = nil, groupBy: [String: String] = [:]) {
        self.slug = slug
        self.name = name
        self.eventType = eventType
        self.aggregation = aggregation
        self.valueProperty = valueProperty
        self.groupBy = groupBy
    }
}

public struct Feature: Hashable, Sendable {
    public var key: String
    public var name: String
    public var meterSlug: String?

    public init(key: String, name: String, meterSlug: String? = nil) {
        self.key = key
        self.name = name
        self.meterSlug = meterSlug
    }
}

public enum ProRatingMode: String, Hashable, Sendable, CaseIterable {
    case proratePrices = "prorate_prices"
    case maxConsumptionBased = "max_consumption_based"
}

public struct ProRatingConfig: Hashable, Sendable {
    public var enabled: Bool
    public var mode: ProRatingMode

    public init(enabled: Bool = true, mode: ProRatingMode = .maxConsumptionBased) {
        self.enabled = enabled
        self.mode = mode
    }
}

/// One published version of a plan. Immutable once published.
public struct Plan: Hashable, Sendable {
    public var key: String
    public var version: Int
    public var name: String
    public var currency: Currency
    public var billingCadence: ISODuration
    public var proRating: ProRatingConfig
    public var metadata: [String: String]
    public var phases: [Phase]

    public init(key: String, version: Int = 1, name: String, currency: Currency, billingCadence: ISODuration,
                proRating: ProRatingConfig = ProRatingConfig(), metadata: [String: String] = [:], phases: [Phase]) {
        self.key = key
        self.version = version
        self.name = name
        self.currency = currency
        self.billingCadence = billingCadence
        self.proRating = proRating
        self.metadata = metadata
        self.phases = phases
    }

    /// A plan that bills something in some phase (not free throughout): subscribing to it
    /// needs a payment method.
    public var billsSomething: Bool { phases.contains { !$0.isFreeTrial } }
}

public struct Phase: Hashable, Sendable {
    public var key: String
    public var name: String
    /// nil = open-ended (the last phase only).
    public var duration: ISODuration?
    public var rateCards: [RateCard]

    public init(key: String, name: String, duration: ISODuration? = nil, rateCards: [RateCard]) {
        self.key = key
        self.name = name
        self.duration = duration
        self.rateCards = rateCards
    }

    /// A phase whose rate cards bill nothing is a free trial.
    public var isFreeTrial: Bool { rateCards.allSatisfy { $0.price?.isFree ?? true } }
}

public enum RateCardType: String, Hashable, Sendable, CaseIterable {
    case flatFee = "flat_fee"
    case usageBased = "usage_based"
}

public struct RateCard: Hashable, Sendable {
    public var type: RateCardType
    public var key: String
    public var name: String
    public var featureKey: String?
    /// nil on a flat fee = a one-time fee.
    public var billingCadence: ISODuration?
    /// nil = free.
    public var price: Price?
    public var entitlementTemplate: EntitlementTemplate?
    public var taxConfig: TaxConfig
    public var discounts: Discounts

    public init(type: RateCardType, key: String, name: String, featureKey: String? = nil,
                billingCadence: ISODuration?, price: Price?, entitlementTemplate: EntitlementTemplate? = nil,
                taxConfig: TaxConfig = TaxConfig(), discounts: Discounts = Discounts()) {
        self.type = type
        self.key = key
        self.name = name
        self.featureKey = featureKey
        self.billingCadence = billingCadence
        self.price = price
        self.entitlementTemplate = entitlementTemplate
        self.taxConfig = taxConfig
        self.discounts = discounts
    }

    /// The metered quota of this card's entitlement, if it has one.
    public var meteredEntitlement: MeteredEntitlement? {
        if case .metered(let metered) = entitlementTemplate { return metered }
        return nil
    }
}

public enum PaymentTerm: String, Hashable, Sendable, CaseIterable {
    case inAdvance = "in_advance"
    case inArrears = "in_arrears"
}

public enum TieredMode: String, Hashable, Sendable, CaseIterable {
    case graduated
    case volume
}

/// A tier holds the quantities in (previous bound, upToAmount]; the last tier has no bound.
public struct Tier: Hashable, Sendable {
    public var upToAmount: Decimal?
    public var flatPrice: Decimal?
    public var unitPrice: Decimal?

    public init(upToAmount: Decimal?, flatPrice: Decimal? = nil, unitPrice: Decimal? = nil) {
        self.upToAmount = upToAmount
        self.flatPrice = flatPrice
        self.unitPrice = unitPrice
    }
}

/// Minimum and maximum charge of a usage price per billing period.
public struct Commitments: Hashable, Sendable {
    public var minimumAmount: Decimal?
    public var maximumAmount: Decimal?

    public init(minimumAmount: Decimal? = nil, maximumAmount: Decimal? = nil) {
        self.minimumAmount = minimumAmount
        self.maximumAmount = maximumAmount
    }
}

public enum Price: Hashable, Sendable {
    case flat(amount: Decimal, paymentTerm: PaymentTerm)
    case unit(amount: Decimal, commitments: Commitments)
    case tiered(mode: TieredMode, tiers: [Tier], commitments: Commitments)
    case package(amount: Decimal, quantityPerPackage: Decimal, commitments: Commitments)
    /// The metered value is itself money (e.g. upstream cost), multiplied.
    case dynamic(multiplier: Decimal, commitments: Commitments)

    public var commitments: Commitments {
        switch self {
        case .flat: return Commitments()
        case .unit(_, let c), .tiered(_, _, let c), .package(_, _, let c), .dynamic(_, let c): return c
        }
    }

    /// The fee's payment term; usage prices are always billed in arrears.
    public var paymentTerm: PaymentTerm {
        switch self {
        case .flat(_, let term): return term
        case .unit, .tiered, .package, .dynamic: return .inArrears
        }
    }

    /// True when the price can never charge anything.
    public var isFree: Bool {
        switch self {
        case .flat(let amount, _), .unit(let amount, _), .package(let amount, _, _):
            return amount == 0 && (commitments.minimumAmount ?? 0) == 0
        case .dynamic(let multiplier, let c):
            return multiplier == 0 && (c.minimumAmount ?? 0) == 0
        case .tiered(_, let tiers, let c):
            return tiers.allSatisfy { ($0.flatPrice ?? 0) == 0 && ($0.unitPrice ?? 0) == 0 } && (c.minimumAmount ?? 0) == 0
        }
    }
}

public struct MeteredEntitlement: Hashable, Sendable {
    /// The quota per usage period.
    public var issueAfterReset: Decimal
    public var isSoftLimit: Bool
    /// nil = the rate card's billing cadence.
    public var usagePeriod: ISODuration?

    public init(issueAfterReset: Decimal, isSoftLimit: Bool = false, usagePeriod: ISODuration? = nil) {
        self.issueAfterReset = issueAfterReset
        self.isSoftLimit = isSoftLimit
        self.usagePeriod = usagePeriod
    }
}

public enum EntitlementTemplate: Hashable, Sendable {
    case metered(MeteredEntitlement)
    case boolean
    /// The static configuration as JSON text.
    case `static`(config: String)
}

public enum TaxBehavior: String, Hashable, Sendable, CaseIterable {
    case exclusive
    case inclusive
}

public struct TaxConfig: Hashable, Sendable {
    public var behavior: TaxBehavior
    /// Stripe tax code (`txcd_...`).
    public var stripeCode: String?

    public init(behavior: TaxBehavior = .exclusive, stripeCode: String? = nil) {
        self.behavior = behavior
        self.stripeCode = stripeCode
    }
}

public struct Discounts: Hashable, Sendable {
    /// Percent off the usage line (10 = 10%).
    public var percentage: Decimal?
    /// Free units per billing period, taken off the quantity before pricing.
    public var usageQuantity: Decimal?

    public init(percentage: Decimal? = nil, usageQuantity: Decimal? = nil) {
        self.percentage = percentage
        self.usageQuantity = usageQuantity
    }
}
