import Billing
import Foundation

/// What a catalog import changed.
public struct CatalogImportResult: Hashable, Sendable {
    public var added: [String] = []
    public var unchanged: [String] = []
}

/// What importing a catalog adds to the published one, by the rule every store keeps: published
/// meters, features and plan versions are immutable, so an identical one is left as it is and a
/// different one under a published key (and version) refuses the whole file.
public struct CatalogAdditions {
    public var meters: [Meter] = []
    public var features: [Feature] = []
    public var plans: [Plan] = []
    /// What the import reports, item by item in the file's order.
    public var result = CatalogImportResult()

    public init(_ incoming: Catalog, published: Catalog) throws {
        for meter in incoming.meters {
            if let old = published.meter(slug: meter.slug) {
                guard old == meter else { throw StoreInputError("meter \(meter.slug) is already published with a different definition; meters are immutable: use a new slug") }
                result.unchanged.append("meter \(meter.slug)")
            } else {
                meters.append(meter)
                result.added.append("meter \(meter.slug)")
            }
        }
        for feature in incoming.features {
            if let old = published.feature(key: feature.key) {
                guard old == feature else { throw StoreInputError("feature \(feature.key) is already published with a different definition; features are immutable: use a new key") }
                result.unchanged.append("feature \(feature.key)")
            } else {
                features.append(feature)
                result.added.append("feature \(feature.key)")
            }
        }
        for plan in incoming.plans {
            let label = "plan \(plan.key) v\(plan.version)"
            if let old = published.plan(key: plan.key, version: plan.version) {
                guard old == plan else { throw StoreInputError("\(label) is already published and differs from the file; a published version is immutable: import it as version \((published.plan(key: plan.key)?.version ?? plan.version) + 1)") }
                result.unchanged.append(label)
            } else {
                plans.append(plan)
                result.added.append(label)
            }
        }
    }
}

/// The published catalog: meters, features and plan versions, immutable once published.
public protocol CatalogRepository: AnyObject {
    /// Imports a validated catalog: an identical meter, feature or plan version is left as it is,
    /// a different one under a published key (and version) refuses the whole file.
    func importCatalog(_ catalog: Catalog, at now: Instant) throws -> CatalogImportResult
    /// The whole published catalog.
    func catalog() throws -> Catalog
    /// The plan `key` at `version` (default: the latest); refused, naming the field, when there
    /// is none.
    func plan(key: String, version: Int?) throws -> Plan
}

extension Catalog {
    /// The plan `key` at `version` (default: the latest), refused naming the field when there is
    /// none: what `CatalogRepository.plan(key:version:)` answers in every store.
    func requiredPlan(_ key: String, version: Int?) throws -> Plan {
        guard let plan = plan(key: key, version: version) else {
            if let version, plan(key: key) != nil { throw StoreInputError("plan \(key) has no version \(version)", kind: .invalid("version")) }
            throw StoreInputError("no plan \(key) in the catalog: import it with `tollbooth catalog import`", kind: .invalid("plan"))
        }
        return plan
    }
}
