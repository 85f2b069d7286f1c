import Foundation

/// Writes a catalog, or one plan, as canonical JSON: members sorted by name, two-space indents,
/// money as decimal strings ("0.0004"), durations as written ("P1M"), defaults spelled out.
/// The same value always gives the same bytes, and `CatalogReader` reads them back to an equal
/// value, so a published plan version can be stored as this text and compared by value.
public enum CatalogWriter {
    public static func json(_ catalog: Catalog) -> Data {
        document(.object([
            ("meters", .array(catalog.meters.map(meter))),
            ("features", .array(catalog.features.map(feature))),
            ("plans", .array(catalog.plans.map(plan))),
        ]))
    }

    public static func json(plan: Plan) -> Data {
        document(Self.plan(plan))
    }

    private static func document(_ value: JSONValue) -> Data {
        Data((value.text(pretty: true) + "\n").utf8)
    }

    static func meter(_ meter: Meter) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("slug", .string(meter.slug)),
            ("name", .string(meter.name)),
            ("eventType", .string(meter.eventType)),
            ("aggregation", .string(meter.aggregation.rawValue)),
        ]
        if let path = meter.valueProperty { members.append(("valueProperty", .string(path))) }
        if !meter.groupBy.isEmpty { members.append(("groupBy", strings(meter.groupBy))) }
        return .object(members)
    }

    static func feature(_ feature: Feature) -> JSONValue {
        var members: [(String, JSONValue)] = [("key", .string(feature.key)), ("name", .string(feature.name))]
        if let slug = feature.meterSlug { members.append(("meterSlug", .string(slug))) }
        return .object(members)
    }

    static func plan(_ plan: Plan) -> JSONValue {
        .object([
            ("key", .string(plan.key)),
            ("version", .number(String(plan.version))),
            ("name", .string(plan.name)),
            ("currency", .string(plan.currency.code)),
            ("billingCadence", .string(plan.billingCadence.text)),
            ("proRatingConfig", .object([
                ("enabled", .bool(plan.proRating.enabled)),
                ("mode", .string(plan.proRating.mode.rawValue)),
            ])),
            ("metadata", strings(plan.metadata)),
            ("phases", .array(plan.phases.map(phase))),
        ])
    }

    static func phase(_ phase: Phase) -> JSONValue {
        .object([
            ("key", .string(phase.key)),
            ("name", .string(phase.name)),
            ("duration", phase.duration.map { .string($0.text) } ?? .null),
            ("rateCards", .array(phase.rateCards.map(rateCard))),
        ])
    }

    static func rateCard(_ card: RateCard) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string(card.type.rawValue)),
            ("key", .string(card.key)),
            ("name", .string(card.name)),
            ("billingCadence", card.billingCadence.map { .string($0.text) } ?? .null),
            ("price", card.price.map(price) ?? .null),
        ]
        if let featureKey = card.featureKey { members.append(("featureKey", .string(featureKey))) }
        if let template = card.entitlementTemplate { members.append(("entitlementTemplate", entitlementTemplate(template))) }
        var tax: [(String, JSONValue)] = [("behavior", .string(card.taxConfig.behavior.rawValue))]
        if let code = card.taxConfig.stripeCode { tax.append(("stripe", .object([("code", .string(code))]))) }
        members.append(("taxConfig", .object(tax)))
        var discounts: [(String, JSONValue)] = []
        if let percentage = card.discounts.percentage {
            discounts.append(("percentage", .object([("percentage", count(percentage))])))
        }
        if let quantity = card.discounts.usageQuantity {
            discounts.append(("usage", .object([("quantity", count(quantity))])))
        }
        if !discounts.isEmpty { members.append(("discounts", .object(discounts))) }
        return .object(members)
    }

    static func price(_ price: Price) -> JSONValue {
        var members: [(String, JSONValue)]
        switch price {
        case .flat(let amount, let term):
            members = [("type", .string("flat")), ("amount", decimal(amount)), ("paymentTerm", .string(term.rawValue))]
        case .unit(let amount, _):
            members = [("type", .string("unit")), ("amount", decimal(amount))]
        case .tiered(let mode, let tiers, _):
            members = [("type", .string("tiered")), ("mode", .string(mode.rawValue)), ("tiers", .array(tiers.map(tier)))]
        case .package(let amount, let perPackage, _):
            members = [("type", .string("package")), ("amount", decimal(amount)), ("quantityPerPackage", count(perPackage))]
        case .dynamic(let multiplier, _):
            members = [("type", .string("dynamic")), ("multiplier", decimal(multiplier))]
        }
        if let minimum = price.commitments.minimumAmount { members.append(("minimumAmount", decimal(minimum))) }
        if let maximum = price.commitments.maximumAmount { members.append(("maximumAmount", decimal(maximum))) }
        return .object(members)
    }

    static func tier(_ tier: Tier) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("flatPrice", tier.flatPrice.map { .object([("type", .string("flat")), ("amount", decimal($0))]) } ?? .null),
            ("unitPrice", tier.unitPrice.map { .object([("type", .string("unit")), ("amount", decimal($0))]) } ?? .null),
        ]
        if let bound = tier.upToAmount { members.append(("upToAmount", decimal(bound))) }
        return .object(members)
    }

    static func entitlementTemplate(_ template: EntitlementTemplate) -> JSONValue {
        switch template {
        case .metered(let metered):
            var members: [(String, JSONValue)] = [
                ("type", .string("metered")),
                ("issueAfterReset", count(metered.issueAfterReset)),
                ("isSoftLimit", .bool(metered.isSoftLimit)),
            ]
            if let period = metered.usagePeriod { members.append(("usagePeriod", .string(period.text))) }
            return .object(members)
        case .boolean:
            return .object([("type", .string("boolean"))])
        case .static(let config):
            return .object([("type", .string("static")), ("config", staticConfig(config))])
        }
    }

    /// The config as JSON when it is already in canonical form, so the file stays readable;
    /// otherwise as the string itself, which the reader keeps verbatim: either way it reads back
    /// to the same text.
    static func staticConfig(_ config: String) -> JSONValue {
        if let value = try? JSONValue.parse(config), value.isContainer, value.text() == config { return value }
        return .string(config)
    }

    static func decimal(_ value: Decimal) -> JSONValue { .string(value.plainString) }

    /// Counts and percentages as JSON numbers, as OpenMeter writes them; `plainString` never
    /// uses an exponent, so the reader takes the text back exactly.
    static func count(_ value: Decimal) -> JSONValue { .number(value.plainString) }

    static func strings(_ map: [String: String]) -> JSONValue {
        .object(map.map { ($0.key, .string($0.value)) })
    }
}
