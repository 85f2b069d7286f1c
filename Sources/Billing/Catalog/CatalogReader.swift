import Foundation

/// Reads a catalog file (`{"meters": [...], "features": [...], "plans": [...]}`, OpenMeter v1
/// field names) and checks it, throwing a `CatalogError` that lists every problem found.
public enum CatalogReader {
    public static func read(_ data: Data) throws(CatalogError) -> Catalog {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw CatalogError(problems: [CatalogLocation.catalog.problem("", error.message)])
        }
        var decoder = CatalogDecoder()
        let catalog = decoder.catalog(root)
        let problems = decoder.problems + decoder.withoutEchoes(CatalogValidator.problems(in: catalog))
        guard problems.isEmpty else { throw CatalogError(problems: inDocumentOrder(problems, of: catalog)) }
        return catalog
    }

    /// Reads one plan written by `CatalogWriter.json(plan:)`. Its features and meters live
    /// elsewhere, so only the checks that need no other record are made.
    public static func readPlan(_ data: Data) throws(CatalogError) -> Plan {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw CatalogError(problems: [CatalogLocation.catalog.problem("", error.message)])
        }
        var decoder = CatalogDecoder()
        let plan = decoder.plan(root, index: 0)
        let problems = decoder.problems + decoder.withoutEchoes(plan.map { CatalogValidator.problems(in: $0) } ?? [])
        guard let plan, problems.isEmpty else { throw CatalogError(problems: problems) }
        return plan
    }
}

/// Orders problems by the record they are in, as the records appear in the file, so reading
/// problems comes next to the rules broken by the same record. Stable within a record.
private func inDocumentOrder(_ problems: [CatalogProblem], of catalog: Catalog) -> [CatalogProblem] {
    var ordinal: [String: Int] = [CatalogLocation.catalog.text: 0]
    func note(_ location: CatalogLocation) {
        if ordinal[location.text] == nil { ordinal[location.text] = ordinal.count }
    }
    for (index, meter) in catalog.meters.enumerated() { note(.meter(meter.slug, index: index)) }
    for (index, feature) in catalog.features.enumerated() { note(.feature(feature.key, index: index)) }
    for (index, plan) in catalog.plans.enumerated() {
        let planAt = CatalogLocation.plan(plan.key, version: plan.version, index: index)
        note(planAt)
        for (number, phase) in plan.phases.enumerated() {
            let phaseAt = planAt.phase(phase.key, index: number)
            note(phaseAt)
            for (cardNumber, card) in phase.rateCards.enumerated() { note(phaseAt.rateCard(card.key, index: cardNumber)) }
        }
    }
    func rank(_ problem: CatalogProblem) -> Int {
        // The innermost record the location names: the longest known prefix.
        var best: (length: Int, ordinal: Int) = (-1, Int.max)
        for (record, position) in ordinal
        where record.count > best.length && (problem.location == record || problem.location.hasPrefix(record + ", ")) {
            best = (record.count, position)
        }
        return best.ordinal
    }
    return problems.enumerated()
        .sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }
        .map(\.element)
}

/// The members of one JSON object being decoded, with where they are.
private struct Fields {
    let members: JSONValue
    let at: CatalogLocation
    /// The field path of this object inside its record ("price", "price.tiers[2]"); empty for
    /// the record itself.
    let path: String

    func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    /// The member's value; nil when absent or null, which mean the same in this format.
    subscript(name: String) -> JSONValue? {
        guard let value = members[name], value != .null else { return nil }
        return value
    }
}

/// Decodes the JSON tree into the model, noting every problem instead of stopping at the
/// first. A value that cannot be read is replaced by a neutral stand-in (empty text, zero, the
/// default) so the rest of the record can still be read and checked.
private struct CatalogDecoder {
    private(set) var problems: [CatalogProblem] = []
    /// Records whose type could not be read: checks on the stand-in would only mislead.
    private var unreadable: Set<String> = []

    mutating func report(_ fields: Fields, _ name: String, _ message: String) {
        problems.append(fields.at.problem(fields.field(name), message))
    }

    /// The validator's problems that only repeat, or follow from, a problem already reported
    /// while reading (a missing key is "required", not also "not a valid key").
    func withoutEchoes(_ found: [CatalogProblem]) -> [CatalogProblem] {
        let reported = Set(problems.map(\.location))
        return found.filter { problem in
            let location = problem.location
            if reported.contains(location) { return false }
            if reported.contains(where: { location.hasPrefix($0 + ".") || location.hasPrefix($0 + "[") }) { return false }
            return !unreadable.contains { location.hasPrefix($0 + ", ") || location == $0 }
        }
    }

    // MARK: Records

    mutating func catalog(_ root: JSONValue) -> Catalog {
        guard case .object = root else {
            problems.append(CatalogLocation.catalog.problem("", "must be a JSON object with \"meters\", \"features\" and \"plans\", not \(root.kindName)"))
            return Catalog()
        }
        let fields = Fields(members: root, at: .catalog, path: "")
        let meters = records(fields, "meters").enumerated().compactMap { meter($1, index: $0) }
        let features = records(fields, "features").enumerated().compactMap { feature($1, index: $0) }
        let plans = records(fields, "plans").enumerated().compactMap { plan($1, index: $0) }
        return Catalog(meters: meters, features: features, plans: plans)
    }

    /// The items of a top-level list; absent means none.
    private mutating func records(_ fields: Fields, _ name: String) -> [JSONValue] {
        guard let value = fields.members[name] else { return [] }
        guard case .array(let items) = value else {
            report(fields, name, "must be an array, not \(value.kindName)")
            return []
        }
        return items
    }

    /// An item of a list that must be an object; nil (reported) otherwise.
    private mutating func record(_ value: JSONValue, _ location: CatalogLocation, _ field: String = "") -> Fields? {
        guard case .object = value else {
            problems.append(location.problem(field, "must be a JSON object, not \(value.kindName)"))
            return nil
        }
        return Fields(members: value, at: location, path: field)
    }

    private static func rawKey(_ value: JSONValue, _ name: String) -> String {
        if case .string(let key)? = value[name] { return key }
        return ""
    }

    mutating func meter(_ value: JSONValue, index: Int) -> Meter? {
        let slug = Self.rawKey(value, "slug")
        guard let f = record(value, .meter(slug, index: index)) else { return nil }
        let slugValue = string(f, "slug", required: true) ?? ""
        return Meter(
            slug: slugValue,
            // OpenMeter exports may leave a meter unnamed; its slug is then its name.
            name: string(f, "name", required: false) ?? slugValue,
            eventType: string(f, "eventType", required: true) ?? "",
            aggregation: choice(f, "aggregation", of: Aggregation.self, required: true) ?? .count,
            valueProperty: string(f, "valueProperty", required: false),
            groupBy: stringMap(f, "groupBy"))
    }

    mutating func feature(_ value: JSONValue, index: Int) -> Feature? {
        guard let f = record(value, .feature(Self.rawKey(value, "key"), index: index)) else { return nil }
        return Feature(
            key: string(f, "key", required: true) ?? "",
            name: string(f, "name", required: true) ?? "",
            meterSlug: string(f, "meterSlug", required: false))
    }

    mutating func plan(_ value: JSONValue, index: Int) -> Plan? {
        // The record's name needs the version before its problems can be reported.
        var labelVersion = 1
        if case .number(let text)? = value["version"], let number = Int(text) { labelVersion = number }
        guard let f = record(value, .plan(Self.rawKey(value, "key"), version: labelVersion, index: index)) else { return nil }
        let key = string(f, "key", required: true) ?? ""
        let version = integer(f, "version") ?? 1
        let name = string(f, "name", required: true) ?? ""
        let currency = self.currency(f, "currency")
        // A missing cadence becomes zero, which the validator never builds on.
        let billingCadence = duration(f, "billingCadence", required: true) ?? ISODuration()
        let proRating = object(f, "proRatingConfig").map { p in
            ProRatingConfig(enabled: bool(p, "enabled") ?? true,
                            mode: choice(p, "mode", of: ProRatingMode.self) ?? .maxConsumptionBased)
        } ?? ProRatingConfig()
        let metadata = stringMap(f, "metadata")
        let phases = list(f, "phases", required: true).enumerated().compactMap { phase($1, index: $0, in: f.at) }
        return Plan(key: key, version: version, name: name, currency: currency, billingCadence: billingCadence,
                    proRating: proRating, metadata: metadata, phases: phases)
    }

    mutating func phase(_ value: JSONValue, index: Int, in plan: CatalogLocation) -> Phase? {
        guard let f = record(value, plan.phase(Self.rawKey(value, "key"), index: index)) else { return nil }
        let key = string(f, "key", required: true) ?? ""
        let name = string(f, "name", required: true) ?? ""
        let duration = self.duration(f, "duration", required: false)
        let cards = list(f, "rateCards", required: true).enumerated().compactMap { rateCard($1, index: $0, in: f.at) }
        return Phase(key: key, name: name, duration: duration, rateCards: cards)
    }

    mutating func rateCard(_ value: JSONValue, index: Int, in phase: CatalogLocation) -> RateCard? {
        guard let f = record(value, phase.rateCard(Self.rawKey(value, "key"), index: index)) else { return nil }
        let type = choice(f, "type", of: RateCardType.self, required: true)
        if type == nil { unreadable.insert(f.at.text) }
        let taxConfig = object(f, "taxConfig").map { t in
            TaxConfig(behavior: choice(t, "behavior", of: TaxBehavior.self) ?? .exclusive,
                      stripeCode: object(t, "stripe").flatMap { string($0, "code", required: false) })
        } ?? TaxConfig()
        let discounts = object(f, "discounts").map { d in
            Discounts(percentage: object(d, "percentage").flatMap { quantity($0, "percentage", required: true) },
                      usageQuantity: object(d, "usage").flatMap { quantity($0, "quantity", required: true) })
        } ?? Discounts()
        return RateCard(
            type: type ?? .flatFee,
            key: string(f, "key", required: true) ?? "",
            name: string(f, "name", required: true) ?? "",
            featureKey: string(f, "featureKey", required: false),
            billingCadence: duration(f, "billingCadence", required: false),
            price: price(f),
            entitlementTemplate: entitlementTemplate(f),
            taxConfig: taxConfig,
            discounts: discounts)
    }

    mutating func price(_ card: Fields) -> Price? {
        guard let p = object(card, "price") else { return nil }
        guard let type = string(p, "type", required: true) else { return nil }
        func commitments(_ decoder: inout CatalogDecoder) -> Commitments {
            Commitments(minimumAmount: decoder.money(p, "minimumAmount", required: false),
                        maximumAmount: decoder.money(p, "maximumAmount", required: false))
        }
        switch type {
        case "flat":
            return .flat(amount: money(p, "amount", required: true) ?? 0,
                         paymentTerm: choice(p, "paymentTerm", of: PaymentTerm.self) ?? .inAdvance)
        case "unit":
            return .unit(amount: money(p, "amount", required: true) ?? 0, commitments: commitments(&self))
        case "tiered":
            let mode = choice(p, "mode", of: TieredMode.self, required: true) ?? .graduated
            let tiers = list(p, "tiers", required: true).enumerated().compactMap { tier($1, index: $0, in: p) }
            return .tiered(mode: mode, tiers: tiers, commitments: commitments(&self))
        case "package":
            return .package(amount: money(p, "amount", required: true) ?? 0,
                            quantityPerPackage: quantity(p, "quantityPerPackage", required: true) ?? 0,
                            commitments: commitments(&self))
        case "dynamic":
            // OpenMeter's default: the metered money value passes through unchanged.
            return .dynamic(multiplier: money(p, "multiplier", required: false) ?? 1, commitments: commitments(&self))
        default:
            report(p, "type", "\"\(type)\" is not a price type; use one of flat, unit, tiered, package, dynamic")
            return nil
        }
    }

    mutating func tier(_ value: JSONValue, index: Int, in price: Fields) -> Tier? {
        guard let t = record(value, price.at, price.field("tiers[\(index)]")) else { return nil }
        return Tier(upToAmount: money(t, "upToAmount", required: false),
                    flatPrice: tierPrice(t, "flatPrice", type: "flat"),
                    unitPrice: tierPrice(t, "unitPrice", type: "unit"))
    }

    private mutating func tierPrice(_ tier: Fields, _ name: String, type: String) -> Decimal? {
        guard let p = object(tier, name) else { return nil }
        if let written = string(p, "type", required: false), written != type {
            report(p, "type", "must be \"\(type)\" in \(name), not \"\(written)\"")
        }
        return money(p, "amount", required: true) ?? 0
    }

    mutating func entitlementTemplate(_ card: Fields) -> EntitlementTemplate? {
        guard let e = object(card, "entitlementTemplate") else { return nil }
        guard let type = string(e, "type", required: true) else { return nil }
        switch type {
        case "metered":
            return .metered(MeteredEntitlement(
                issueAfterReset: quantity(e, "issueAfterReset", required: true) ?? 0,
                isSoftLimit: bool(e, "isSoftLimit") ?? false,
                usagePeriod: duration(e, "usagePeriod", required: false)))
        case "boolean":
            return .boolean
        case "static":
            switch e["config"] {
            case .string(let text)?: return .static(config: text)
            case let value? where value.isContainer: return .static(config: value.text())
            case let value?:
                report(e, "config", "must be a JSON object or a string holding JSON, not \(value.kindName)")
            case nil:
                report(e, "config", "is required for a static entitlement")
            }
            return .static(config: "")
        default:
            report(e, "type", "\"\(type)\" is not an entitlement type; use one of metered, boolean, static")
            return nil
        }
    }

    // MARK: Fields

    private mutating func string(_ f: Fields, _ name: String, required: Bool) -> String? {
        switch f[name] {
        case .string(let text)?: return text
        case nil:
            if required { report(f, name, "is required") }
            return nil
        case let other?:
            report(f, name, "must be a string, not \(other.kindName)")
            return nil
        }
    }

    private mutating func bool(_ f: Fields, _ name: String) -> Bool? {
        switch f[name] {
        case .bool(let flag)?: return flag
        case nil: return nil
        case let other?:
            report(f, name, "must be true or false, not \(other.kindName)")
            return nil
        }
    }

    private mutating func integer(_ f: Fields, _ name: String) -> Int? {
        switch f[name] {
        case .number(let text)?:
            if let number = Int(text) { return number }
            report(f, name, "must be a whole number such as 1, not \(text)")
            return nil
        case nil: return nil
        case let other?:
            report(f, name, "must be a whole number such as 1, not \(other.kindName)")
            return nil
        }
    }

    private mutating func object(_ f: Fields, _ name: String) -> Fields? {
        switch f[name] {
        case let value? where value.isObject: return Fields(members: value, at: f.at, path: f.field(name))
        case nil: return nil
        case let other?:
            report(f, name, "must be an object, not \(other.kindName)")
            return nil
        }
    }

    private mutating func list(_ f: Fields, _ name: String, required: Bool) -> [JSONValue] {
        switch f[name] {
        case .array(let items)?: return items
        case nil:
            if required { report(f, name, "is required") }
            return []
        case let other?:
            report(f, name, "must be an array, not \(other.kindName)")
            return []
        }
    }

    private mutating func stringMap(_ f: Fields, _ name: String) -> [String: String] {
        guard let map = object(f, name), case .object(let members) = map.members else { return [:] }
        var result: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else {
                report(map, key, "must be a string, not \(value.kindName)")
                continue
            }
            result[key] = text
        }
        return result
    }

    private mutating func choice<Value: RawRepresentable & CaseIterable>(
        _ f: Fields, _ name: String, of type: Value.Type, required: Bool = false
    ) -> Value? where Value.RawValue == String {
        guard let text = string(f, name, required: required) else { return nil }
        if let value = Value(rawValue: text) { return value }
        let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
        report(f, name, "\"\(text)\" is not allowed; use one of \(allowed)")
        return nil
    }

    private mutating func currency(_ f: Fields, _ name: String) -> Currency {
        guard let code = string(f, name, required: true) else { return .usd }
        if let currency = Currency(code: code) { return currency }
        let hint = Currency(code: code.uppercased()) != nil ? "write it in upper case, \"\(code.uppercased())\"" : "use an ISO 4217 code such as USD, EUR or JPY"
        report(f, name, "unknown currency \"\(code)\"; \(hint)")
        // Stands in so the plan's other fields are still checked; the catalog is refused anyway.
        return .usd
    }

    private mutating func duration(_ f: Fields, _ name: String, required: Bool) -> ISODuration? {
        guard let text = string(f, name, required: required) else { return nil }
        if let value = ISODuration(text) { return value }
        report(f, name, "\"\(text)\" is not an ISO 8601 duration; use one such as P1D, P1W, P2W, P1M, P3M or P1Y")
        return nil
    }

    /// Money, prices, multipliers and tier bounds: decimal text only, so no amount ever passes
    /// through a binary float on its way in.
    private mutating func money(_ f: Fields, _ name: String, required: Bool) -> Decimal? {
        switch f[name] {
        case .string(let text)?: return decimal(f, name, text)
        case .number(let text)?:
            report(f, name, "must be a decimal string such as \"0.0004\", not a JSON number: write \"\(text)\"")
            return nil
        case nil:
            if required { report(f, name, "is required") }
            return nil
        case let other?:
            report(f, name, "must be a decimal string such as \"0.0004\", not \(other.kindName)")
            return nil
        }
    }

    /// Counts and percentages, which OpenMeter writes as JSON numbers; taken from the number's
    /// text so 12345678901234567890 stays exact.
    private mutating func quantity(_ f: Fields, _ name: String, required: Bool) -> Decimal? {
        switch f[name] {
        case .string(let text)?: return decimal(f, name, text)
        case .number(let text)?:
            if let value = Decimal(jsonNumber: text) { return value }
            report(f, name, "the number \(text) has more digits than an amount can hold exactly (38)")
            return nil
        case nil:
            if required { report(f, name, "is required") }
            return nil
        case let other?:
            report(f, name, "must be a number or a decimal string, not \(other.kindName)")
            return nil
        }
    }

    private mutating func decimal(_ f: Fields, _ name: String, _ text: String) -> Decimal? {
        if let value = Decimal(exactly: text) { return value }
        report(f, name, "\"\(text)\" is not a plain decimal; write digits with an optional sign and decimal point, such as \"0.0004\"")
        return nil
    }
}

extension JSONValue {
    var isObject: Bool {
        if case .object = self { return true }
        return false
    }

    var isContainer: Bool {
        switch self {
        case .object, .array: return true
        case .string, .number, .bool, .null: return false
        }
    }
}

extension Decimal {
    /// The exact value of JSON number text ("12", "-0.5", "1.5e3"); nil when it needs more than
    /// 38 significant digits or an exponent Decimal cannot hold.
    init?(jsonNumber text: String) {
        let lower = text.lowercased()
        let parts = lower.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
        guard let mantissa = Decimal(exactly: String(parts[0])) else { return nil }
        var exponent = 0
        if parts.count == 2 {
            guard let e = Int(parts[1]), abs(e) <= 100 else { return nil }
            exponent = e
        }
        // significand x 10^exponent is exact: it only moves the decimal point.
        let scaled = Decimal(sign: mantissa < 0 ? .minus : .plus, exponent: exponent, significand: abs(mantissa))
        guard !scaled.isNaN else { return nil }
        self = scaled
    }
}
