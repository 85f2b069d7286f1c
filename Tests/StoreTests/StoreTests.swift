import Foundation
import Testing
@testable import Billing
@testable import Store

@Suite struct StoreTests {
    let now = t("2026-04-01T00:00:00Z")

    func sample() throws -> Catalog {
        try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
    }

    func storeWithCustomers() throws -> Store {
        let store = try temporaryStore()
        _ = try store.importCatalog(try sample(), at: now)
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd, subjectKeys: ["acme", "acme-api"]),
                                       Customer(key: "initech", name: "Initech", currency: .eur)], at: now)
        return store
    }

    @Test func migrationsRunOnceAndReopenIsClean() throws {
        let store = try temporaryStore()
        let reopened = try Store(path: store.database.path)
        #expect(try reopened.database.query("SELECT version FROM schema_migrations").compactMap { $0.int(0) } == [1])
        #expect(try reopened.database.first("PRAGMA journal_mode")?.string(0) == "wal")
        #expect(try reopened.database.first("PRAGMA foreign_keys")?.int(0) == 1)
    }

    @Test func catalogRoundTripsAndPublishedVersionsAreImmutable() throws {
        let store = try temporaryStore()
        let catalog = try sample()
        let first = try store.importCatalog(catalog, at: now)
        #expect(first.unchanged.isEmpty)
        #expect(try store.catalog().plans == catalog.plans.sorted { ($0.key, $0.version) < ($1.key, $1.version) })
        #expect(try store.catalog().meters == catalog.meters)
        // The same file again is a no-op.
        #expect(try store.importCatalog(catalog, at: now).added.isEmpty)
        // A changed plan under the same version is refused, and nothing of the file is stored.
        var changed = catalog
        changed.plans[0].name = "Starter (renamed)"
        changed.plans.append(Plan(key: "extra", name: "Extra", currency: .usd, billingCadence: ISODuration("P1M")!,
                                  phases: [Phase(key: "default", name: "Default", rateCards: [])]))
        #expect(throws: StoreInputError.self) { try store.importCatalog(changed, at: now) }
        #expect(try store.catalog().plan(key: "extra") == nil)
        do { _ = try store.importCatalog(changed, at: now) } catch let error as StoreInputError {
            #expect(error.message == "plan starter v1 is already published and differs from the file; a published version is immutable: import it as version 2")
        }
    }

    @Test func schemaRefusesAnInvoiceStatusOutsideTheSet() throws {
        let store = try storeWithCustomers()
        #expect(throws: DatabaseError.self) {
            try store.database.run("""
                INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
                VALUES ('x', 'acme', 0, 'USD', 'sent', '0', '0', '0', 0, 0)
                """)
        }
        // A failed invoice needs its failure stage.
        #expect(throws: DatabaseError.self) {
            try store.database.run("""
                INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
                VALUES ('y', 'acme', 0, 'USD', 'failed', '0', '0', '0', 0, 0)
                """)
        }
    }

    @Test func oneSubscriptionAtATimeAndAChangedOneIsReadOnly() throws {
        let store = try storeWithCustomers()
        let starter = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: now, now: now)
        #expect(throws: StoreInputError.self) {
            try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        }
        let pro = try store.changeSubscription(id: starter.id, planKey: "pro", version: nil, timing: nil, now: t("2026-04-16T00:00:00Z"))
        let records = try store.subscriptions(customerKey: "acme")
        #expect(records.map(\.id) == [starter.id, pro.id])
        #expect(records[0].successorId == pro.id)
        #expect(records[0].subscription.end == t("2026-04-16T00:00:00Z"))
        #expect(records[1].subscription.anchor == now)
        do {
            _ = try store.cancelSubscription(id: starter.id, timing: nil, now: now)
            Issue.record("a changed subscription must be read-only")
        } catch let error as StoreInputError {
            #expect(error.message == "subscription \(starter.id) was changed into \(pro.id) and is read-only: use \(pro.id)")
        }
    }

    @Test func aPlanInAnotherCurrencyIsRefused() throws {
        let store = try storeWithCustomers()
        do {
            _ = try store.createSubscription(customerKey: "initech", planKey: "starter", version: nil, anchor: nil, start: now, now: now)
            Issue.record("expected a currency error")
        } catch let error as StoreInputError {
            #expect(error.message == "plan starter v1 is priced in USD but customer initech is billed in EUR: choose a plan in EUR")
        }
        #expect(try store.subscriptions(customerKey: "initech").isEmpty)
    }

    @Test func cancelAndReactivate() throws {
        let store = try storeWithCustomers()
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let end = try store.cancelSubscription(id: sub.id, timing: .nextBillingCycle, now: t("2026-04-10T00:00:00Z"))
        #expect(end == t("2026-05-01T00:00:00Z"))
        try store.reactivateSubscription(id: sub.id, now: t("2026-04-12T00:00:00Z"))
        #expect(try store.subscription(id: sub.id)?.subscription.end == nil)
        #expect(throws: StoreInputError.self) { try store.reactivateSubscription(id: sub.id, now: t("2026-04-12T00:00:00Z")) }
    }

    @Test func subjectKeysBelongToOneCustomer() throws {
        let store = try storeWithCustomers()
        #expect(try store.subjectOwners()["acme-api"] == "acme")
        #expect(throws: StoreInputError.self) {
            try store.importCustomers([Customer(key: "other", name: "Other", subjectKeys: ["acme-api"])], at: now)
        }
    }

    @Test func usageAggregatesExactlyAcrossBatches() throws {
        let store = try storeWithCustomers()
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let hour = t("2026-04-02T10:00:00Z")
        for (batch, values) in [[d("1"), d("1")], [d("2")]].enumerated() {
            let id = try store.beginBatch(input: "b\(batch)", at: now)
            try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "tokens", windowStart: hour,
                                                  count: Int64(values.count), sum: values.reduce(0, +), min: values.min()!, max: values.max()!,
                                                  latestTime: t("2026-04-02T10:0\(batch):00Z"), latestValue: values.last!,
                                                  uniqueValues: values.map(\.plainString))], batch: id)
        }
        let usage = store.usage
        let april = Period(start: now, end: t("2026-05-01T00:00:00Z"))
        func meter(_ aggregation: Aggregation) -> Meter { Meter(slug: "tokens", name: "t", eventType: "e", aggregation: aggregation) }
        // Values 1, 1, 2: sum 4, count 3, max 2, min 1, latest 2, mean 1.333333, 2 distinct.
        #expect(usage.quantity(meter: meter(.sum), subscriptionId: sub.id, period: april) == 4)
        #expect(usage.quantity(meter: meter(.count), subscriptionId: sub.id, period: april) == 3)
        #expect(usage.quantity(meter: meter(.max), subscriptionId: sub.id, period: april) == 2)
        #expect(usage.quantity(meter: meter(.min), subscriptionId: sub.id, period: april) == 1)
        #expect(usage.quantity(meter: meter(.latest), subscriptionId: sub.id, period: april) == 2)
        #expect(usage.quantity(meter: meter(.avg), subscriptionId: sub.id, period: april) == d("1.333333"))
        #expect(usage.quantity(meter: meter(.uniqueCount), subscriptionId: sub.id, period: april) == 2)
        // Outside the period: nothing.
        #expect(usage.quantity(meter: meter(.sum), subscriptionId: sub.id, period: Period(start: t("2026-05-01T00:00:00Z"), end: t("2026-06-01T00:00:00Z"))) == 0)
    }

    @Test func eventKeysDeduplicateDurably() throws {
        let store = try storeWithCustomers()
        let a = EventKey(hash: 7, hash2: 1, time: now), b = EventKey(hash: 3, hash2: 1, time: now)
        #expect(try store.recordEventKeys([b, a, a]) == [true, true, false])
        let reopened = try Store(path: store.database.path)
        // Same first half, other second half: a different event (kept in the overflow table).
        let collision = EventKey(hash: 7, hash2: 2, time: now)
        #expect(try reopened.recordEventKeys([a, collision, collision]) == [false, true, false])
        #expect(try reopened.recordEventKeys([collision]) == [false])
    }
}
