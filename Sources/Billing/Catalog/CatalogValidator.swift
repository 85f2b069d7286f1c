import Foundation

/// The rules a decoded catalog must follow before anything is billed from it. Every problem is
/// listed, each naming its record and field, so a catalog is fixed in one pass.
public enum CatalogValidator {
    public static func problems(in catalog: Catalog) -> [CatalogProblem] {
        var checks = Checks(catalog: catalog)
        checks.meters(catalog.meters)
        checks.features(catalog.features)
        checks.plans(catalog.plans)
        return checks.problems
    }

    /// The checks one plan can pass on its own: everything except references to features and
    /// meters, which live in the catalog around it.
    public static func problems(in plan: Plan) -> [CatalogProblem] {
        var checks = Checks(catalog: nil)
        checks.plans([plan])
        return checks.problems
    }

    /// Keys of meters, features, plans, phases and rate cards: `^[a-z0-9]+(?:_[a-z0-9]+)*$`,
    /// at most 64 characters.
    public static func isValidKey(_ key: String) -> Bool {
        guard !key.isEmpty, key.count <= 64 else { return false }
        return key.split(separator: "_", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        }
    }

    /// True when a rate card billed every `card` fits a plan billed every `plan`: both counted in
    /// months (P1M, P3M, P1Y on P1M), or both in fixed time (P1W, P2W on P1D), with `card` a
    /// whole number of `plan`s. Months and days never divide each other evenly.
    public static func isWholeMultiple(_ card: ISODuration, of plan: ISODuration) -> Bool {
        if card.months == plan.months, card.days == plan.days, card.seconds == plan.seconds { return true }
        let planFixed = Int64(plan.days) * 86_400 + Int64(plan.seconds)
        let cardFixed = Int64(card.days) * 86_400 + Int64(card.seconds)
        if plan.months > 0, planFixed == 0, cardFixed == 0 { return card.months % plan.months == 0 }
        if plan.months == 0, card.months == 0, planFixed > 0 { return cardFixed % planFixed == 0 }
        return false
    }
}

private struct Checks {
    /// nil when checking a lone plan: references are not checked then.
    let catalog: Catalog?
    var problems: [CatalogProblem] = []

    init(catalog: Catalog?) {
        self.catalog = catalog
    }

    mutating func add(_ at: CatalogLocation, _ field: String, _ message: String) {
        problems.append(at.problem(field, message))
    }

    mutating func key(_ key: String, _ at: CatalogLocation, _ field: String) {
        guard !CatalogValidator.isValidKey(key) else { return }
        let suggestion = Self.suggestedKey(for: key)
        let example = suggestion.isEmpty || suggestion == key ? "" : " (such as \"\(suggestion)\")"
        add(at, field, "\"\(key)\" is not a valid key; use lower-case letters a-z, digits and single underscores between them\(example), at most 64 characters")
    }

    static func suggestedKey(for key: String) -> String {
        var result = ""
        for scalar in key.lowercased().unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else if !result.isEmpty, !result.hasSuffix("_") {
                result += "_"
            }
        }
        while result.hasSuffix("_") { result.removeLast() }
        return String(result.prefix(64)).trimmingCharacters(in: CharacterSet(charactersIn: "_"))
    }

    mutating func named(_ name: String, _ at: CatalogLocation) {
        if name.trimmingCharacters(in: .whitespaces).isEmpty { add(at, "name", "must not be empty: invoices and reports show it") }
    }

    mutating func notNegative(_ value: Decimal?, _ at: CatalogLocation, _ field: String) {
        guard let value, value < 0 else { return }
        add(at, field, "must not be negative, but is \(value.plainString)")
    }

    mutating func positive(_ duration: ISODuration?, _ at: CatalogLocation, _ field: String) {
        guard let duration, duration.isZero else { return }
        add(at, field, "\(duration.text) must be longer than zero")
    }

    // MARK: Meters and features

    mutating func meters(_ meters: [Meter]) {
        var firstIndex: [String: Int] = [:]
        for (index, meter) in meters.enumerated() {
            let at = CatalogLocation.meter(meter.slug, index: index)
            key(meter.slug, at, "slug")
            if let first = firstIndex[meter.slug] {
                add(at, "slug", "\"\(meter.slug)\" is also the slug of meters[\(first)]; each meter needs its own slug")
            } else {
                firstIndex[meter.slug] = index
            }
            named(meter.name, at)
            if meter.eventType.isEmpty { add(at, "eventType", "must not be empty: it is the CloudEvents type the meter counts") }
            switch meter.aggregation {
            case .count: break
            case .sum, .uniqueCount, .max, .min, .avg, .latest:
                if meter.valueProperty == nil {
                    add(at, "valueProperty", "is required for a \(meter.aggregation.rawValue) meter: name the value to aggregate, such as \"$.tokens\"")
                }
            }
            if let path = meter.valueProperty { jsonPath(path, at, "valueProperty") }
            for name in meter.groupBy.keys.sorted() { jsonPath(meter.groupBy[name] ?? "", at, "groupBy.\(name)") }
        }
    }

    mutating func jsonPath(_ path: String, _ at: CatalogLocation, _ field: String) {
        guard !path.hasPrefix("$.") || path.count < 3 else { return }
        add(at, field, "\"\(path)\" must be a JSONPath into the event's data, starting with \"$.\" (such as \"$.tokens\")")
    }

    mutating func features(_ features: [Feature]) {
        var firstIndex: [String: Int] = [:]
        for (index, feature) in features.enumerated() {
            let at = CatalogLocation.feature(feature.key, index: index)
            key(feature.key, at, "key")
            if let first = firstIndex[feature.key] {
                add(at, "key", "\"\(feature.key)\" is also the key of features[\(first)]; each feature needs its own key")
            } else {
                firstIndex[feature.key] = index
            }
            named(feature.name, at)
            if let slug = feature.meterSlug, let catalog, catalog.meter(slug: slug) == nil {
                add(at, "meterSlug", "no meter has the slug \"\(slug)\"; add the meter or correct the slug")
            }
        }
    }

    // MARK: Plans

    mutating func plans(_ plans: [Plan]) {
        var firstIndex: [String: Int] = [:]
        for (index, plan) in plans.enumerated() {
            let at = CatalogLocation.plan(plan.key, version: plan.version, index: index)
            key(plan.key, at, "key")
            if plan.version < 1 { add(at, "version", "must be 1 or more, but is \(plan.version)") }
            let identity = "\(plan.key) \(plan.version)"
            if let first = firstIndex[identity] {
                add(at, "version", "plan \"\(plan.key)\" version \(plan.version) is also plans[\(first)]; give each version its own number")
            } else {
                firstIndex[identity] = index
            }
            named(plan.name, at)
            positive(plan.billingCadence, at, "billingCadence")
            if let days = plan.metadata["max_payment_overdue_days"], Int(days).map({ $0 < 0 }) ?? true {
                add(at, "metadata.max_payment_overdue_days", "\"\(days)\" must be a whole number of days, 0 or more")
            }
            if plan.phases.isEmpty { add(at, "phases", "must have at least one phase") }
            var phaseIndex: [String: Int] = [:]
            for (number, phase) in plan.phases.enumerated() {
                let phaseAt = at.phase(phase.key, index: number)
                if let first = phaseIndex[phase.key] {
                    add(phaseAt, "key", "\"\(phase.key)\" is also the key of phases[\(first)] of this plan; each phase needs its own key")
                } else {
                    phaseIndex[phase.key] = number
                }
                self.phase(phase, isLast: number == plan.phases.count - 1, in: plan, at: phaseAt)
            }
        }
    }

    mutating func phase(_ phase: Phase, isLast: Bool, in plan: Plan, at: CatalogLocation) {
        key(phase.key, at, "key")
        named(phase.name, at)
        if phase.duration == nil, !isLast {
            add(at, "duration", "only the last phase may be open-ended (duration null); give this phase a duration such as P14D")
        }
        positive(phase.duration, at, "duration")
        var cardIndex: [String: Int] = [:]
        for (index, card) in phase.rateCards.enumerated() {
            let cardAt = at.rateCard(card.key, index: index)
            if let first = cardIndex[card.key] {
                add(cardAt, "key", "\"\(card.key)\" is also the key of rateCards[\(first)] of this phase; each rate card needs its own key")
            } else {
                cardIndex[card.key] = index
            }
            rateCard(card, in: plan, at: cardAt)
        }
    }

    mutating func rateCard(_ card: RateCard, in plan: Plan, at: CatalogLocation) {
        key(card.key, at, "key")
        named(card.name, at)
        let feature = card.featureKey.flatMap { catalog?.feature(key: $0) }
        if let featureKey = card.featureKey, let catalog, catalog.feature(key: featureKey) == nil {
            add(at, "featureKey", "no feature has the key \"\(featureKey)\"; add the feature or correct the key")
        }
        cadence(card, in: plan, at: at)

        var meterProblem = false
        if let price = card.price {
            self.price(price, at)
            switch (card.type, price) {
            case (.flatFee, .flat), (.usageBased, .flat): break
            case (.flatFee, .unit), (.flatFee, .tiered), (.flatFee, .package), (.flatFee, .dynamic):
                add(at, "price.type", "a flat_fee rate card takes a flat price only; make the rate card usage_based to charge for usage")
            case (.usageBased, .unit), (.usageBased, .tiered), (.usageBased, .package), (.usageBased, .dynamic):
                meterProblem = needsMeter(card, feature, at, why: "its usage price needs usage to price")
            }
        }
        if let template = card.entitlementTemplate {
            switch template {
            case .metered(let metered):
                if !meterProblem { _ = needsMeter(card, feature, at, why: "a metered entitlement needs usage to count") }
                notNegative(metered.issueAfterReset, at, "entitlementTemplate.issueAfterReset")
                positive(metered.usagePeriod, at, "entitlementTemplate.usagePeriod")
            case .boolean:
                if card.featureKey == nil { add(at, "featureKey", "is required with an entitlementTemplate: name the feature it grants") }
            case .static(let config):
                if card.featureKey == nil { add(at, "featureKey", "is required with an entitlementTemplate: name the feature it grants") }
                if (try? JSONValue.parse(config)) == nil {
                    add(at, "entitlementTemplate.config", "must hold JSON, such as {\"seats\": 5}")
                }
            }
        }
        discounts(card, at)
    }

    /// Checks that the card's feature has a meter; true when a problem was reported.
    mutating func needsMeter(_ card: RateCard, _ feature: Feature?, _ at: CatalogLocation, why: String) -> Bool {
        guard let featureKey = card.featureKey else {
            add(at, "featureKey", "is required: \(why); name a feature that has a meterSlug")
            return true
        }
        // An unknown feature is reported already; a lone plan has no features to look at.
        guard let feature, feature.meterSlug == nil else { return false }
        add(at, "featureKey", "feature \"\(featureKey)\" has no meterSlug, but \(why); give the feature a meter")
        return true
    }

    mutating func cadence(_ card: RateCard, in plan: Plan, at: CatalogLocation) {
        guard let cadence = card.billingCadence else {
            switch card.type {
            case .flatFee: break // a one-time fee
            case .usageBased:
                add(at, "billingCadence", "is required on a usage_based rate card; use the plan's \(plan.billingCadence.text)")
            }
            return
        }
        if cadence.isZero {
            positive(cadence, at, "billingCadence")
        } else if !plan.billingCadence.isZero, !CatalogValidator.isWholeMultiple(cadence, of: plan.billingCadence) {
            add(at, "billingCadence", "\(cadence.text) is not a whole multiple of the plan's billingCadence \(plan.billingCadence.text); use \(plan.billingCadence.text) or a whole multiple of it")
        }
    }

    mutating func discounts(_ card: RateCard, _ at: CatalogLocation) {
        if let percentage = card.discounts.percentage, percentage < 0 || percentage > 100 {
            add(at, "discounts.percentage.percentage", "must be between 0 and 100 (10 means 10% off), but is \(percentage.plainString)")
        }
        if let quantity = card.discounts.usageQuantity {
            notNegative(quantity, at, "discounts.usage.quantity")
            switch card.type {
            case .usageBased: break
            case .flatFee:
                add(at, "discounts.usage", "a flat_fee rate card has no usage to make free; remove the usage discount or make the rate card usage_based")
            }
        }
    }

    // MARK: Prices

    mutating func price(_ price: Price, _ at: CatalogLocation) {
        switch price {
        case .flat(let amount, _), .unit(let amount, _):
            notNegative(amount, at, "price.amount")
        case .tiered(_, let tiers, _):
            self.tiers(tiers, at)
        case .package(let amount, let perPackage, _):
            notNegative(amount, at, "price.amount")
            if perPackage <= 0 {
                add(at, "price.quantityPerPackage", "must be greater than 0 (the units in one package, such as 1000), but is \(perPackage.plainString)")
            }
        case .dynamic(let multiplier, _):
            notNegative(multiplier, at, "price.multiplier")
        }
        let commitments = price.commitments
        notNegative(commitments.minimumAmount, at, "price.minimumAmount")
        notNegative(commitments.maximumAmount, at, "price.maximumAmount")
        if let minimum = commitments.minimumAmount, let maximum = commitments.maximumAmount, minimum > maximum {
            add(at, "price.minimumAmount", "\(minimum.plainString) is greater than maximumAmount \(maximum.plainString); the minimum charge must not exceed the maximum")
        }
    }

    mutating func tiers(_ tiers: [Tier], _ at: CatalogLocation) {
        if tiers.isEmpty { add(at, "price.tiers", "must have at least one tier") }
        var previous: (bound: Decimal, index: Int)? = nil
        for (index, tier) in tiers.enumerated() {
            let field = "price.tiers[\(index)]"
            let isLast = index == tiers.count - 1
            switch (tier.upToAmount, isLast) {
            case (let bound?, true):
                add(at, "\(field).upToAmount", "must be left out on the last tier, which holds every quantity above \(previous.map { $0.bound.plainString } ?? "0"); remove \"\(bound.plainString)\" or add a tier after it")
            case (nil, false):
                add(at, "\(field).upToAmount", "is required on every tier but the last")
            case (_?, false), (nil, true): break
            }
            if let bound = tier.upToAmount {
                notNegative(bound, at, "\(field).upToAmount")
                if let previous, bound <= previous.bound {
                    add(at, "\(field).upToAmount", "\(bound.plainString) must be greater than the bound of tiers[\(previous.index)], \(previous.bound.plainString); list the tiers in increasing order")
                }
                previous = (bound, index)
            }
            if tier.flatPrice == nil, tier.unitPrice == nil {
                add(at, field, "needs a flatPrice, a unitPrice or both")
            }
            notNegative(tier.flatPrice, at, "\(field).flatPrice.amount")
            notNegative(tier.unitPrice, at, "\(field).unitPrice.amount")
        }
    }
}
