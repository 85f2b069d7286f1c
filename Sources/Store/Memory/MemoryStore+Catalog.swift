import Billing
import Foundation

// The catalog and customers, as `SQLiteCatalog` and `SQLiteCustomer` keep them.

extension MemoryStore {
    public func importCatalog(_ catalog: Catalog, at now: Instant) throws -> CatalogImportResult {
        try write { state in
            let additions = try CatalogAdditions(catalog, published: state.catalog())
            for meter in additions.meters {
                state.meters[meter.slug] = try CatalogReader.read(CatalogWriter.json(Catalog(meters: [meter]))).meters
                state.bump("attribution")
            }
            for feature in additions.features {
                if let slug = feature.meterSlug { try Constraint.reference(state.meters[slug] != nil) }
                state.features[feature.key] = feature
            }
            for plan in additions.plans {
                guard plan.version >= 1 else { throw Constraint.check("version >= 1") }
                state.plans[PlanKey(key: plan.key, version: plan.version)] = try CatalogReader.readPlan(CatalogWriter.json(plan: plan))
            }
            return additions.result
        }
    }

    public func catalog() throws -> Catalog { read { $0.catalog() } }

    public func plan(key: String, version: Int?) throws -> Plan {
        try read { try $0.catalog().requiredPlan(key, version: version) }
    }

    public func importCustomers(_ customers: [Customer], at now: Instant) throws -> (added: Int, updated: Int) {
        try write { state in
            var added = 0, updated = 0
            for customer in customers {
                let stored = try CustomerReader.read(Data("[\(String(decoding: CustomerReader.json(customer), as: UTF8.self))]".utf8))[0]
                if let old = state.customers[customer.key] {
                    let plans = state.plans
                    if old.customer.currency != customer.currency, let currency = customer.currency,
                       let other = state.subscriptionRows(customerKey: customer.key)
                           .compactMap({ plans[PlanKey(key: $0.planKey, version: $0.planVersion)]?.currency.code })
                           .first(where: { $0 != currency.code }) {
                        throw StoreInputError("customer \(customer.key): cannot change currency to \(currency.code), its subscriptions are priced in \(other)")
                    }
                    state.customers[customer.key] = CustomerRow(customer: stored, createdAt: old.createdAt, updatedAt: now)
                    // The customer's API key ids are subjects too; they are not the file's to drop.
                    let apiKeys = state.apiKeys
                    let dropped = state.subjects.filter { $0.value == customer.key && apiKeys[$0.key] == nil }.map(\.key)
                    for subject in dropped { state.subjects[subject] = nil }
                    state.bump("attribution", by: dropped.count)
                    updated += 1
                } else {
                    state.customers[customer.key] = CustomerRow(customer: stored, createdAt: now, updatedAt: now)
                    added += 1
                }
                for subject in customer.subjectKeys {
                    if let owner = state.subjects[subject] {
                        throw StoreInputError("customer \(customer.key): subject key \(subject) already belongs to customer \(owner)")
                    }
                    state.subjects[subject] = customer.key
                    state.bump("attribution")
                }
            }
            return (added, updated)
        }
    }

    public func customer(key: String) throws -> Customer? { read { $0.customers[key]?.customer } }

    public func customers() throws -> [Customer] {
        read { state in state.customers.values.sorted { $0.customer.key.sqlPrecedes($1.customer.key) }.map(\.customer) }
    }

    public func subjectOwners() throws -> [String: String] { read { $0.subjects } }
}

extension MemoryState {
    /// The whole catalog, in SQLite's order: meters by slug, features by key, plans by key and version.
    func catalog() -> Catalog {
        Catalog(meters: meters.sorted { $0.key.sqlPrecedes($1.key) }.flatMap(\.value),
                features: features.values.sorted { $0.key.sqlPrecedes($1.key) },
                plans: plans.values.sorted { $0.key == $1.key ? $0.version < $1.version : $0.key.sqlPrecedes($1.key) })
    }

}
