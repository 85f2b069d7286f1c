import Billing
import Foundation

/// What a catalog import changed.
public struct CatalogImportResult: Hashable, Sendable {
    public var added: [String] = []
    public var unchanged: [String] = []
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
