import Billing
import Foundation

extension SQLRepositories {
    /// Imports a validated catalog: what `CatalogAdditions` finds new, in one transaction, so a
    /// refused file stores nothing.
    public func importCatalog(_ catalog: Catalog, at now: Instant) throws -> CatalogImportResult {
        try transaction {
            let additions = try CatalogAdditions(catalog, published: self.catalog())
            for meter in additions.meters {
                let json = String(decoding: CatalogWriter.json(Catalog(meters: [meter])), as: UTF8.self)
                try connection.run("INSERT INTO meters (slug, event_type, json, imported_at) VALUES (?, ?, ?, ?)",
                                 [.text(meter.slug), .text(meter.eventType), .text(json), now.sql])
            }
            for feature in additions.features {
                try connection.run("INSERT INTO features (key, name, meter_slug, imported_at) VALUES (?, ?, ?, ?)",
                                 [.text(feature.key), .text(feature.name), SQLValue(feature.meterSlug), now.sql])
            }
            for plan in additions.plans {
                let json = String(decoding: CatalogWriter.json(plan: plan), as: UTF8.self)
                try connection.run("INSERT INTO plans (key, version, name, currency, json, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
                                 [.text(plan.key), .integer(Int64(plan.version)), .text(plan.name), .text(plan.currency.code), .text(json), now.sql])
            }
            return additions.result
        }
    }

    /// The whole published catalog: every meter, feature and plan version.
    public func catalog() throws -> Catalog {
        var meters: [Meter] = []
        for row in try connection.query("SELECT json FROM meters ORDER BY slug") {
            meters += try CatalogReader.read(Data((row.string(0) ?? "").utf8)).meters
        }
        let features = try connection.query("SELECT key, name, meter_slug FROM features ORDER BY key").map {
            Feature(key: $0.string(0) ?? "", name: $0.string(1) ?? "", meterSlug: $0.string(2))
        }
        var plans: [Plan] = []
        for row in try connection.query("SELECT json FROM plans ORDER BY key, version") {
            plans.append(try CatalogReader.readPlan(Data((row.string(0) ?? "").utf8)))
        }
        return Catalog(meters: meters, features: features, plans: plans)
    }
}
