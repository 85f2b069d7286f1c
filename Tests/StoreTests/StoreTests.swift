import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

@Suite struct StoreTests {
    let now = t("2026-04-01T00:00:00Z")

    func sample() throws -> Catalog {
        try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
    }

    func storeWithCustomers(_ backend: Backend) throws -> any SQLRepositories {
        let store = try temporaryStore(backend)
        _ = try store.importCatalog(try sample(), at: now)
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd, subjectKeys: ["acme", "acme-api"]),
                                       Customer(key: "initech", name: "Initech", currency: .eur)], at: now)
        return store
    }

    @Test func migrationsRunOnceAndReopenIsClean() throws {
        let store = try temporaryStore()
        let reopened = try SQLiteStore(path: store.database.path)
        #expect(try reopened.database.query("SELECT version FROM schema_migrations").compactMap { $0.int(0) } == Schema.migrations.map { Int64($0.version) })
        #expect(try reopened.database.first("PRAGMA user_version")?.int(0) == Int64(Schema.latestVersion))
        #expect(try reopened.database.first("PRAGMA journal_mode")?.string(0) == "wal")
        #expect(try reopened.database.first("PRAGMA foreign_keys")?.int(0) == 1)
    }

    @Test func aDatabaseFromANewerSchemaIsRefusedBeforeAnyWrite() throws {
        let store = try temporaryStore()
        try store.database.execute("PRAGMA user_version = \(Schema.latestVersion + 1)")
        let path = store.database.path
        #expect(throws: SchemaVersionError.self) { _ = try SQLiteStore(path: path) }
        // Recorded migrations beyond this build's too, whatever user_version says.
        let next = Schema.latestVersion + 1
        try store.database.execute("PRAGMA user_version = \(Schema.latestVersion)")
        try store.database.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", [.integer(Int64(next))])
        do {
            _ = try SQLiteStore(path: path)
            Issue.record("a database with migration \(next) was opened")
        } catch let error as SchemaVersionError {
            #expect(error.found == next)
            #expect(error.known == Schema.latestVersion)
        }
    }

    @Test func aMigrationThatRebuildsAReferencedTableKeepsItsRows() throws {
        // A version 3 database with a run, a close that refers to it, and a stage.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("v3-\(UUID().uuidString).db").path
        do {
            let database = try Database(path: path, migrate: false)
            try database.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            for migration in Schema.migrations where migration.version <= 3 {
                try database.execute(migration.sql)
                try migration.code?(database)
                try database.run("INSERT INTO schema_migrations VALUES (?, 0)", [.integer(Int64(migration.version))])
            }
            try database.execute("""
                INSERT INTO customers (key, name, json, created_at, updated_at) VALUES ('acme', 'Acme', '{}', 0, 0);
                INSERT INTO plans (key, version, name, currency, json, imported_at) VALUES ('p', 1, 'P', 'USD', '{}', 0);
                INSERT INTO subscriptions (id, customer_key, plan_key, plan_version, anchor, start, created_at, updated_at)
                    VALUES ('sub_1', 'acme', 'p', 1, 0, 0, 0, 0);
                INSERT INTO job_runs (id, as_of, started_at, status) VALUES (7, 0, 0, 'succeeded');
                INSERT INTO job_stages (run_id, stage, started_at, status) VALUES (7, 'close', 0, 'succeeded');
                INSERT INTO period_closes (subscription_id, bill_date, customer_key, run_id) VALUES ('sub_1', 0, 'acme', 7);
                """)
        }
        // Version 4 rebuilds job_runs, which stages and closes refer to.
        let migrated = try SQLiteStore(path: path)
        #expect(try migrated.database.first("SELECT count(*) FROM job_runs")?.int(0) == 1)
        #expect(try migrated.database.first("SELECT run_id FROM period_closes")?.int(0) == 7)
        #expect(try migrated.database.first("SELECT status FROM job_stages")?.string(0) == "succeeded")
        #expect(try migrated.database.first("PRAGMA foreign_keys")?.int(0) == 1)
        #expect(try migrated.database.query("PRAGMA foreign_key_check").isEmpty)
        // The new status is allowed now.
        try migrated.database.run("UPDATE job_runs SET status = 'abandoned'")
    }

    @Test(arguments: Backend.allCases) func aRunStillRunningWhenTheNextStartsIsMarkedAbandoned(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let killed = try store.startRun(asOf: now, dryRun: false, at: now)
        try store.startStage(.rate, run: killed, at: now)
        var abandoned = 0
        let next = try store.startRun(asOf: now, dryRun: false, at: now, abandoned: &abandoned)
        #expect(abandoned == 1)
        #expect(try store.connection.first("SELECT status FROM job_runs WHERE id = ?", [.integer(killed)])?.string(0) == "abandoned")
        #expect(try store.connection.first("SELECT status FROM job_stages WHERE run_id = ?", [.integer(killed)])?.string(0) == "abandoned")
        #expect(try store.connection.first("SELECT status FROM job_runs WHERE id = ?", [.integer(next)])?.string(0) == "running")
    }

    @Test(arguments: Backend.allCases) func textWithNULCharactersIsStoredAndReadWhole(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
        let customers = [Customer(key: "one", name: "One", subjectKeys: ["a\u{0}b"]), Customer(key: "two", name: "Two", subjectKeys: ["a\u{0}c"])]
        switch backend {
        case .sqlite:
            _ = try store.importCustomers(customers, at: now)
            #expect(try store.subjectOwners() == ["a\u{0}b": "one", "a\u{0}c": "two"])
        case .postgres:
            // PostgreSQL's text cannot hold NUL: such a key is refused, saying so, and nothing is stored.
            #expect { try store.importCustomers(customers, at: now) } throws: { "\($0)".contains("NUL character") }
            #expect(try store.customers().isEmpty)
        }
        // A quarantined line is kept whole on both: PostgreSQL keeps its bytes.
        let batch = try store.beginBatch(input: "test", at: now)
        try store.quarantine(batch: batch, line: 1, reason: "not valid JSON", raw: "{\"id\": \"x\u{0}y\"}")
        #expect(try store.quarantinedEvents().first?.raw == "{\"id\": \"x\u{0}y\"}")
    }

    /// Acme on Starter from April 1, its April closed at May 1.
    func storeWithAprilClosed(_ backend: Backend) throws -> (any SQLRepositories, Subscription, Instant) {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: now, now: now)
        let run = try store.startRun(asOf: now, dryRun: false, at: now)
        let may1 = t("2026-05-01T00:00:00Z")
        #expect(try store.close(subscriptionId: sub.id, customerKey: "acme", billDate: may1, run: run))
        return (store, sub, may1)
    }

    @Test(arguments: Backend.allCases) func aSegmentIsLateWhenItsPeriodClosedBeforeItsTransaction(_ backend: Backend) throws {
        let (store, sub, may1) = try storeWithAprilClosed(backend)
        let batch = try store.beginBatch(input: "test", at: may1)
        // April's window is in the closed period, May's is not, whatever the writer thought.
        let pieces = [t("2026-04-20T00:00:00Z"), t("2026-05-02T00:00:00Z")].map {
            SegmentPiece(subscriptionId: sub.id, meterSlug: "api_requests", windowStart: $0, count: 1, sum: 1, min: 1, max: 1,
                         latestTime: $0, latestValue: 1)
        }
        #expect(try store.writeSegments(pieces, batch: batch) == 1)
        #expect(try store.connection.query("SELECT late FROM usage_segments ORDER BY window_start").compactMap { $0.int(0) } == [1, 0])
    }

    @Test(arguments: Backend.allCases) func catalogRoundTripsAndPublishedVersionsAreImmutable(_ backend: Backend) throws {
        let store = try temporaryStore(backend)
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

    @Test(arguments: Backend.allCases) func schemaRefusesAnInvoiceStatusOutsideTheSet(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        #expect(throws: DatabaseError.self) {
            try store.connection.run("""
                INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
                VALUES ('x', 'acme', 0, 'USD', 'sent', '0', '0', '0', 0, 0)
                """)
        }
        // A failed invoice needs its failure stage.
        #expect(throws: DatabaseError.self) {
            try store.connection.run("""
                INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
                VALUES ('y', 'acme', 0, 'USD', 'failed', '0', '0', '0', 0, 0)
                """)
        }
    }

    @Test(arguments: Backend.allCases) func oneSubscriptionAtATimeAndAChangedOneIsReadOnly(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
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

    @Test(arguments: Backend.allCases) func aPlanInAnotherCurrencyIsRefused(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        do {
            _ = try store.createSubscription(customerKey: "initech", planKey: "starter", version: nil, anchor: nil, start: now, now: now)
            Issue.record("expected a currency error")
        } catch let error as StoreInputError {
            #expect(error.message == "plan starter v1 is priced in USD but customer initech is billed in EUR: choose a plan in EUR")
        }
        #expect(try store.subscriptions(customerKey: "initech").isEmpty)
    }

    @Test(arguments: Backend.allCases) func cancelAndReactivate(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let end = try store.cancelSubscription(id: sub.id, timing: .nextBillingCycle, now: t("2026-04-10T00:00:00Z"))
        #expect(end == t("2026-05-01T00:00:00Z"))
        try store.reactivateSubscription(id: sub.id, now: t("2026-04-12T00:00:00Z"))
        #expect(try store.subscription(id: sub.id)?.subscription.end == nil)
        #expect(throws: StoreInputError.self) { try store.reactivateSubscription(id: sub.id, now: t("2026-04-12T00:00:00Z")) }
    }

    @Test(arguments: Backend.allCases) func subjectKeysBelongToOneCustomer(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        #expect(try store.subjectOwners()["acme-api"] == "acme")
        #expect(throws: StoreInputError.self) {
            try store.importCustomers([Customer(key: "other", name: "Other", subjectKeys: ["acme-api"])], at: now)
        }
    }

    @Test(arguments: Backend.allCases) func usageAggregatesExactlyAcrossBatches(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let hour = t("2026-04-02T10:00:00Z")
        for (batch, values) in [[d("1"), d("1")], [d("2")]].enumerated() {
            let id = try store.beginBatch(input: "b\(batch)", at: now)
            try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "tokens", windowStart: hour,
                                                  count: Int64(values.count), sum: values.reduce(0, +), min: values.min()!, max: values.max()!,
                                                  latestTime: t("2026-04-02T10:0\(batch):00Z"), latestValue: values.last!,
                                                  uniqueValues: values.map(\.plainString))], batch: id)
        }
        let usage = store
        let april = Period(start: now, end: t("2026-05-01T00:00:00Z"))
        func meter(_ aggregation: Aggregation) -> Meter { Meter(slug: "tokens", name: "t", eventType: "e", aggregation: aggregation) }
        // Values 1, 1, 2: sum 4, count 3, max 2, min 1, latest 2, mean 1.333333, 2 distinct.
        #expect(try usage.quantity(meter: meter(.sum), subscriptionId: sub.id, period: april) == 4)
        #expect(try usage.quantity(meter: meter(.count), subscriptionId: sub.id, period: april) == 3)
        #expect(try usage.quantity(meter: meter(.max), subscriptionId: sub.id, period: april) == 2)
        #expect(try usage.quantity(meter: meter(.min), subscriptionId: sub.id, period: april) == 1)
        #expect(try usage.quantity(meter: meter(.latest), subscriptionId: sub.id, period: april) == 2)
        #expect(try usage.quantity(meter: meter(.avg), subscriptionId: sub.id, period: april) == d("1.333333"))
        #expect(try usage.quantity(meter: meter(.uniqueCount), subscriptionId: sub.id, period: april) == 2)
        // Outside the period: nothing.
        #expect(try usage.quantity(meter: meter(.sum), subscriptionId: sub.id, period: Period(start: t("2026-05-01T00:00:00Z"), end: t("2026-06-01T00:00:00Z"))) == 0)
    }

    @Test(arguments: Backend.allCases) func theUsageLogCountsBeforeItsFoldAndFoldsIntoOneRowPerWindow(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let hour = t("2026-04-02T10:00:00Z"), next = t("2026-04-02T11:00:00Z")
        // Three commits to the log: values 1.5 and 2 in the 10:00 window (two commits), 7 in 11:00.
        var batches: [Int64] = []
        for (window, value, second) in [(hour, d("1.5"), "10:05:00"), (hour, d("2"), "10:05:00"), (next, d("7"), "11:00:30")] {
            let id = try store.beginBatch(input: "http", at: now)
            batches.append(id)
            try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "tokens", windowStart: window, count: 1, sum: value,
                                                  min: value, max: value, latestTime: t("2026-04-02T\(second)Z"), latestValue: value)],
                                    batch: id, into: .log)
        }
        let april = Period(start: now, end: t("2026-05-01T00:00:00Z"))
        func meter(_ aggregation: Aggregation) -> Meter { Meter(slug: "tokens", name: "t", eventType: "e", aggregation: aggregation) }
        // Values 1.5, 2, 7: sum 10.5, count 3, min 1.5, max 7, latest 7; the 10:00 window's latest
        // is 2 (1.5 and 2 at the same second: the larger).
        func figures() throws -> [Decimal] {
            try [Aggregation.sum, .count, .min, .max, .latest].map { try store.quantity(meter: meter($0), subscriptionId: sub.id, period: april) }
        }
        #expect(try figures() == [d("10.5"), 3, d("1.5"), 7, 7])
        #expect(try store.daily(meter: meter(.sum), subscriptionId: sub.id, period: Period(start: t("2026-04-02T00:00:00Z"), end: t("2026-04-03T00:00:00Z")))
            .map(\.value) == [d("10.5")])
        #expect(try store.connection.first("SELECT count(*) FROM usage_segments")?.int(0) == 0)

        // The oldest row first (a transaction may fold part of the log), then the rest.
        #expect(try store.foldUsageLog(limit: 1) == 1)
        #expect(try figures() == [d("10.5"), 3, d("1.5"), 7, 7])
        #expect(try store.foldUsageLog() == 2)
        #expect(try store.usageLogRows() == 0)
        #expect(try figures() == [d("10.5"), 3, d("1.5"), 7, 7])
        // One live row per window, however many folds fed it, filed under the newest batch:
        // 10:00 has 1.5 + 2 = 3.5 (min 1.5, max 2, latest 2 at the same second: the larger).
        let rows = try store.connection.query("SELECT window_start, batch_id, count, sum, min, max, latest_value FROM usage_live ORDER BY window_start")
        #expect(rows.map { $0.values } == [
            [hour.sql, .integer(batches[1]), .integer(2), .text("3.5"), .text("1.5"), .text("2"), .text("2")],
            [next.sql, .integer(batches[2]), .integer(1), .text("7"), .text("7"), .text("7"), .text("7")],
        ])
        #expect(try store.connection.first("SELECT count(*) FROM usage_segments")?.int(0) == 0)
        #expect(try store.foldUsageLog() == 0)
    }

    @Test(arguments: Backend.allCases) func oneFoldAddsUpAWindowsRowsUnderItsNewestBatch(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: now, now: now)
        let hour = t("2026-04-02T10:00:00Z")
        var batches: [Int64] = []
        // 1.5 at 10:05:00, then 2 at the same second (the larger is the latest), then 0.25 at 10:04.
        for (value, second) in [(d("1.5"), "10:05:00"), (d("2"), "10:05:00"), (d("0.25"), "10:04:00")] {
            let id = try store.beginBatch(input: "http", at: now)
            batches.append(id)
            try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "tokens", windowStart: hour, count: 1, sum: value,
                                                  min: value, max: value, latestTime: t("2026-04-02T\(second)Z"), latestValue: value)],
                                    batch: id, into: .log)
        }
        #expect(try store.foldUsageLog() == 3)
        // count 3, sum 1.5 + 2 + 0.25 = 3.75, min 0.25, max 2, latest 2 (10:05:00, the larger).
        #expect(try store.connection.query("SELECT batch_id, count, sum, min, max, latest_value FROM usage_live").map { $0.values } == [
            [.integer(batches[2]), .integer(3), .text("3.75"), .text("0.25"), .text("2"), .text("2")],
        ])
        // A COUNT meter's rows ("0" texts) fold without arithmetic: 5 more events, count 8.
        let id = try store.beginBatch(input: "http", at: now)
        try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "api_requests", windowStart: hour, count: 5, sum: 0,
                                              min: 0, max: 0, latestTime: hour, latestValue: 0)], batch: id, into: .log)
        #expect(try store.foldUsageLog() == 1)
        #expect(try store.connection.query("SELECT count, sum, min, max, latest_value FROM usage_live WHERE meter_slug = 'api_requests'").map { $0.values }
            == [[.integer(5), .text("0"), .text("0"), .text("0"), .text("0")]])
    }

    @Test(arguments: Backend.allCases) func lateUsageInTheLogIsFoundAndMarkedBilledLikeFoldedUsage(_ backend: Backend) throws {
        let (store, sub, may1) = try storeWithAprilClosed(backend)
        let window = t("2026-04-20T00:00:00Z")
        for table in SegmentTable.allCases {
            let batch = try store.beginBatch(input: "test", at: may1)
            #expect(try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "api_requests", windowStart: window, count: 1,
                                                          sum: 1, min: 1, max: 1, latestTime: window, latestValue: 1)], batch: batch, into: table) == 1)
        }
        // One late event folded into usage_live, one still in the log, one in usage_segments.
        let batch = try store.beginBatch(input: "test", at: may1)
        try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "api_requests", windowStart: window, count: 1,
                                              sum: 1, min: 1, max: 1, latestTime: window, latestValue: 1)], batch: batch, into: .log)
        #expect(try store.foldUsageLog(limit: 1) == 1)
        #expect(try store.lateWindows().count == 1)
        try store.markLateBilled(subscriptionId: sub.id, period: Period(start: now, end: may1))
        #expect(try store.connection.query("SELECT late FROM usage_rows").compactMap { $0.int(0) } == [2, 2, 2])
        #expect(try store.lateWindows().isEmpty)
        // Billed late usage stays billed when folded: in usage_live one row, late = 2, both events
        // that went through the log.
        #expect(try store.foldUsageLog() == 1)
        #expect(try store.connection.query("SELECT late, count FROM usage_live").map { $0.values } == [[.integer(2), .integer(2)]])
        // Late usage that comes after the billing is late again, in a row of its own.
        let after = try store.beginBatch(input: "test", at: may1)
        try store.writeSegments([SegmentPiece(subscriptionId: sub.id, meterSlug: "api_requests", windowStart: window, count: 1,
                                              sum: 1, min: 1, max: 1, latestTime: window, latestValue: 1)], batch: after, into: .log)
        #expect(try store.foldUsageLog() == 1)
        #expect(try store.connection.query("SELECT late, count FROM usage_live ORDER BY late").map { $0.values } == [[.integer(1), .integer(1)], [.integer(2), .integer(2)]])
        try store.markLateBilled(subscriptionId: sub.id, period: Period(start: now, end: may1))
        #expect(try store.connection.query("SELECT late, count FROM usage_live").map { $0.values } == [[.integer(2), .integer(3)]])
    }

    func keys(_ store: any Store, day: Int64) throws -> [String] {
        var found: [String] = []
        try store.forEachEventKey(day: day) { found.append("\($0)/\($1)") }
        return found
    }

    @Test(arguments: Backend.allCases) func eventKeysAreKeptPerDayAndSurviveReopening(_ backend: Backend) throws {
        let store = try storeWithCustomers(backend)
        let batch = try store.beginBatch(input: "test", at: now)
        // 2026-04-01 is day 20544 since 1970-01-01.
        let day = EventKeyBlock.day(of: now.seconds)
        #expect(day == 20544)
        #expect(EventKeyBlock.day(of: now.seconds - 1) == 20543)
        #expect(EventKeyBlock.day(of: -1) == -1)
        try store.appendEventKeys([7, 1, 3, UInt64.max], day: day, batch: batch)
        try store.appendEventKeys([9, 9], day: day, batch: batch)
        try store.appendEventKeys([5, 5], day: day + 1, batch: batch)
        let reopened = try store.openConnection()
        #expect(try keys(reopened, day: day) == ["7/1", "3/-1", "9/9"])
        #expect(try keys(reopened, day: day + 1) == ["5/5"])
        #expect(try keys(reopened, day: day - 1) == [])
        // Retention counts whole days: a cutoff inside day+1 keeps it and forgets `day`.
        #expect(try reopened.pruneEventKeys(before: Instant(seconds: now.seconds + 86_400 + 3_600)) == 2)
        #expect(try keys(reopened, day: day) == [])
        #expect(try keys(reopened, day: day + 1) == ["5/5"])
    }

    @Test func version1KeysMoveIntoDayBlocks() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("v1-\(UUID().uuidString).db").path
        do {
            let database = try Database(path: path, migrate: false)
            try database.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            try database.execute(Schema.version1)
            try database.execute("INSERT INTO schema_migrations VALUES (1, 0)")
            try database.execute("""
                INSERT INTO event_keys VALUES (11, 1, 1775001600), (12, 2, 1775001601), (13, 3, 1775088000);
                INSERT INTO event_key_overflow VALUES (11, 4, 1775001602);
                """)
        }
        let store = try SQLiteStore(path: path)
        // 1775001600 is 2026-04-01T00:00:00Z (day 20544); 1775088000 the next day.
        #expect(try Set(keys(store, day: 20544)) == ["11/1", "12/2", "11/4"])
        #expect(try keys(store, day: 20545) == ["13/3"])
        #expect(try store.database.first("SELECT count(*) FROM sqlite_master WHERE name IN ('event_keys', 'event_key_overflow')")?.int(0) == 0)
    }
}
