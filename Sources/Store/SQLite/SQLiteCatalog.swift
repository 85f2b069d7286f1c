import Billing
import Foundation

extension SQLiteStore {
    /// Imports a validated catalog. Published meters, features and plan versions are immutable:
    /// an identical one is left as it is, a different one with the same key (and version) is
    /// refused and nothing of the file is stored.
    public func importCatalog(_ catalog: Catalog, at now: Instant) throws -> CatalogImportResult {
        try transaction {
            var result = CatalogImportResult()
            let existing = try self.catalog()
            for meter in catalog.meters {
                let json = String(decoding: CatalogWriter.json(Catalog(meters: [meter])), as: UTF8.self)
                if let old = existing.meter(slug: meter.slug) {
                    guard old == meter else { throw StoreInputError("meter \(meter.slug) is already published with a different definition; meters are immutable: use a new slug") }
                    result.unchanged.append("meter \(meter.slug)")
                    continue
                }
                try database.run("INSERT INTO meters (slug, event_type, json, imported_at) VALUES (?, ?, ?, ?)",
                                 [.text(meter.slug), .text(meter.eventType), .text(json), now.sql])
                result.added.append("meter \(meter.slug)")
            }
            for feature in catalog.features {
                if let old = existing.feature(key: feature.key) {
                    guard old == feature else { throw StoreInputError("feature \(feature.key) is already published with a different definition; features are immutable: use a new key") }
                    result.unchanged.append("feature \(feature.key)")
                    continue
                }
                try database.run("INSERT INTO features (key, name, meter_slug, imported_at) VALUES (?, ?, ?, ?)",
                                 [.text(feature.key), .text(feature.name), SQLValue(feature.meterSlug), now.sql])
                result.added.append("feature \(feature.key)")
            }
            for plan in catalog.plans {
                let label = "plan \(plan.key) v\(plan.version)"
                if let old = existing.plan(key: plan.key, version: plan.version) {
                    guard old == plan else { throw StoreInputError("\(label) is already published and differs from the file; a published version is immutable: import it as version \((existing.plan(key: plan.key)?.version ?? plan.version) + 1)") }
                    result.unchanged.append(label)
                    continue
                }
                let json = String(decoding: CatalogWriter.json(plan: plan), as: UTF8.self)
                try database.run("INSERT INTO plans (key, version, name, currency, json, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
                                 [.text(plan.key), .integer(Int64(plan.version)), .text(plan.name), .text(plan.currency.code), .text(json), now.sql])
                result.added.append(label)
            }
            return result
        }
    }

    /// The whole published catalog: every meter, feature and plan version.
    public func catalog() throws -> Catalog {
        var meters: [Meter] = []
        for row in try database.query("SELECT json FROM meters ORDER BY slug") {
            meters += try CatalogReader.read(Data((row.string(0) ?? "").utf8)).meters
        }
        let features = try database.query("SELECT key, name, meter_slug FROM features ORDER BY key").map {
            Feature(key: $0.string(0) ?? "", name: $0.string(1) ?? "", meterSlug: $0.string(2))
        }
        var plans: [Plan] = []
        for row in try database.query("SELECT json FROM plans ORDER BY key, version") {
            plans.append(try CatalogReader.readPlan(Data((row.string(0) ?? "").utf8)))
        }
        return Catalog(meters: meters, features: features, plans: plans)
    }
}
