import Foundation
import Testing
@testable import Billing
@testable import Pipeline
@testable import Store

func d(_ text: String) -> Decimal { Decimal(exactly: text)! }
func t(_ text: String) -> Instant { Instant(rfc3339: text)! }

let fixturesDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The implementations of `Store` a test of the pipeline runs on: each asserts the same amounts.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, memory

    var testDescription: String { rawValue }
}

/// A store with the sample catalog and two customers: SQLite in a temporary folder, or memory.
func sampleStore(_ backend: Backend) throws -> any Store {
    switch backend {
    case .sqlite: return try sampleStore()
    case .memory: return try filled(MemoryStore())
    }
}

/// A SQLite store with the sample catalog and two customers, in a temporary folder: for tests
/// that need a file (the run lock, a connection per worker thread).
func sampleStore() throws -> SQLiteStore {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return try filled(SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path))
}

/// `store` with the sample catalog and two customers.
func filled<S: Store>(_ store: S) throws -> S {
    let catalog = try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
    _ = try store.importCatalog(catalog, at: t("2026-03-01T00:00:00Z"))
    let customers = try CustomerReader.read(Data("""
        [{"key": "acme", "name": "Acme", "currency": "USD", "billingAddress": {"country": "DE"}},
         {"key": "globex", "name": "Globex", "currency": "USD", "billingAddress": {"country": "US", "state": "CA"}, "taxExempt": "exempt"}]
        """.utf8))
    _ = try store.importCustomers(customers, at: t("2026-03-01T00:00:00Z"))
    return store
}

/// Records `count` events of one meter at one instant, as one ingest batch.
func record(_ store: any Store, subscription: String, meter: String = "api_requests", count: Int64, at time: Instant) throws {
    let batch = try store.beginBatch(input: "test", at: time)
    let hour = Instant(seconds: time.seconds - time.seconds % 3600)
    try store.writeSegments([SegmentPiece(subscriptionId: subscription, meterSlug: meter, windowStart: hour, count: count,
                                          sum: Decimal(count), min: 1, max: 1, latestTime: time, latestValue: 1)],
                            batch: batch)
}

func lines(_ invoice: StoredInvoice) -> [String] {
    invoice.lines.map { "\($0.line.kind.rawValue) \($0.line.rateCardKey ?? "-") \($0.line.amount.plainString)" }
}

@Suite struct BillRunTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let may1 = t("2026-05-01T00:00:00Z")

    @Test(arguments: Backend.allCases) func aRunBillsInAdvanceFeesThenUsageAndIsIdempotent(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        let starter = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        try record(store, subscription: starter.id, count: 12_345, at: t("2026-04-10T12:00:00Z"))
        let run = BillRun(store: store)
        // As of May 1 01:00 the collection window (1 hour) has passed for the May 1 boundary.
        let asOf = t("2026-05-01T01:00:00Z")
        let first = try run.run(asOf: asOf, now: asOf)
        #expect(first.stages.map(\.stage) == Stage.allCases)
        let invoices = try store.invoices()
        // Apr 1: Starter's April fee 29.00. May 1: 12,345 x 0.002 = 24.69 for April, May's fee 29.00.
        #expect(invoices.map(\.id) == ["inv_acme_20260401", "inv_acme_20260501"])
        #expect(lines(invoices[0]) == ["fee base_fee 29"])
        #expect(lines(invoices[1]) == ["fee base_fee 29", "usage api_requests 24.69"])
        #expect(invoices[1].total == d("53.69"))
        #expect(invoices.allSatisfy { $0.status == .taxed })
        #expect(first.stages.first { $0.stage == .issue }?.message == "Stripe not configured; 2 invoices ready")
        // A second run with the same as-of changes nothing.
        let second = try run.run(asOf: asOf, now: asOf)
        #expect(second.stages.first { $0.stage == .close }?.counts.first?.1 == 0)
        #expect(try store.invoices() == invoices)
    }

    @Test(arguments: Backend.allCases) func collectionWindowHoldsAPeriodOpen(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        _ = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        let run = BillRun(store: store)
        _ = try run.run(asOf: t("2026-05-01T00:30:00Z"), now: t("2026-05-01T00:30:00Z"))
        #expect(try store.invoices().map(\.id) == ["inv_acme_20260401"])
    }

    @Test(arguments: Backend.allCases) func taxFromRatesWithAnExemptCustomer(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        _ = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1)
        _ = try store.createSubscription(customerKey: "globex", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1)
        let rates = TaxRateTable([TaxRate(country: "DE", rate: d("0.19"), name: "VAT"), TaxRate(country: "US", state: "CA", rate: d("0.0725"), name: "CA")])
        var settings = Settings()
        settings.tax.provider = .rates
        settings.tax.rates = rates
        let run = BillRun(store: store, settings: settings)
        _ = try run.run(asOf: t("2026-04-01T01:00:00Z"), now: t("2026-04-01T01:00:00Z"))
        let invoices = try store.invoices()
        // Acme in DE: 99.00 x 19% = 18.81, total 117.81. Globex is exempt: 99.00.
        #expect(invoices.map { "\($0.customerKey) \($0.tax.plainString) \($0.total.plainString)" } == ["acme 18.81 117.81", "globex 0 99"])
    }

    @Test(arguments: Backend.allCases) func enforcedTaxWithNoRateFailsTheInvoiceAndTheRunReportsIt(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        _ = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1)
        var settings = Settings()
        settings.tax.provider = .rates
        settings.tax.enforced = true
        let run = BillRun(store: store, settings: settings)
        let summary = try run.run(asOf: t("2026-04-01T01:00:00Z"), now: t("2026-04-01T01:00:00Z"))
        #expect(summary.failedInvoices == 1)
        let invoice = try #require(try store.invoices().first)
        #expect(invoice.status == .failed)
        #expect(invoice.failure?.stage == "tax")
        #expect(invoice.failure?.message.contains("no tax rate matches customer acme in country DE") == true)
    }

    @Test(arguments: Backend.allCases) func upgradeMidPeriodCreditsAndChargesOnTheNextInvoice(_ backend: Backend) throws {
        // Starter from Apr 1 (29.00, 10,000 requests included); 7,000 requests by Apr 16, then
        // upgrade to Pro. April has 30 days; 15 elapsed.
        let store = try sampleStore(backend)
        let starter = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        try record(store, subscription: starter.id, count: 7_000, at: t("2026-04-05T00:00:00Z"))
        let pro = try store.changeSubscription(id: starter.id, planKey: "pro", version: nil, timing: nil, now: t("2026-04-16T00:00:00Z"))
        #expect(pro.start == t("2026-04-16T00:00:00Z"))
        let run = BillRun(store: store)
        _ = try run.run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        let may = try #require(try store.invoice(id: "inv_acme_20260501"))
        // Starter usage 7,000 x 0.002 = 14.00 (its price is per request, quota or not).
        // Credit: max(15/30, 7,000/10,000) = 0.7 consumed -> 29.00 x 0.3 = 8.70.
        // Pro: May 99.00; rest of April 99.00 x 15/30 = 49.50; Pro usage 0 - 1,000 free = 0.00; tokens 0.
        #expect(lines(may) == ["usage api_requests 14", "fee base_fee 99", "proration_charge base_fee 49.5",
                               "usage api_requests 0", "usage tokens 0", "proration_credit base_fee -8.7"])
        // 14.00 + 99.00 + 49.50 - 8.70 = 153.80
        #expect(may.total == d("153.80"))
    }

    @Test(arguments: Backend.allCases) func lateUsageIsBilledOnTheNextInvoice(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        try record(store, subscription: sub.id, count: 1_000, at: t("2026-04-10T00:00:00Z"))
        let run = BillRun(store: store)
        _ = try run.run(asOf: t("2026-05-02T00:00:00Z"), now: t("2026-05-02T00:00:00Z"))
        // 500 April events arrive after April was billed: the store marks them late.
        try record(store, subscription: sub.id, count: 500, at: t("2026-04-20T00:00:00Z"))
        _ = try run.run(asOf: t("2026-06-01T01:00:00Z"), now: t("2026-06-01T01:00:00Z"))
        let june = try #require(try store.invoice(id: "inv_acme_20260601"))
        // April recomputed: 1,500 x 0.002 = 3.00, billed 2.00 -> late usage 1.00.
        #expect(lines(june) == ["fee base_fee 29", "usage api_requests 0", "late_usage api_requests 1"])
        // Billed once: a later run adds nothing more for April.
        #expect(try store.lateWindows().isEmpty)
    }

    @Test(arguments: Backend.allCases) func creditsCarryToTheNextInvoiceAndFinallyToABalance(_ backend: Backend) throws {
        let store = try sampleStore(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1)
        // Cancelled on Apr 11 after 10 of 30 days: credit 99.00 x 20/30 = 66.00, nothing to absorb it.
        _ = try store.cancelSubscription(id: sub.id, timing: .immediate, now: t("2026-04-11T00:00:00Z"))
        let run = BillRun(store: store)
        _ = try run.run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        #expect(try store.creditBalances()["acme"] == d("-66.00"))
        // The May 1 invoice has zero-amount usage lines only: it exists, total 0, not required.
        let may = try #require(try store.invoice(id: "inv_acme_20260501"))
        #expect(may.total == 0)
        #expect(may.status == .notRequired)
    }

    @Test(arguments: Backend.allCases) func nothingTakesEffectInABilledPeriod(_ backend: Backend) throws {
        // Billed through May 1: a change, cancellation or new subscription dated at or before it
        // would change an invoice already made, so it is refused and nothing changes.
        let store = try sampleStore(backend)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        _ = try BillRun(store: store).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        do {
            _ = try store.changeSubscription(id: sub.id, planKey: "pro", version: nil, timing: .at(t("2026-04-16T00:00:00Z")), now: t("2026-05-02T00:00:00Z"))
            Issue.record("a change into a billed period must be refused")
        } catch let error as StoreInputError {
            #expect(error.message == "customer acme is billed through 2026-05-01T00:00:00Z: a plan change must take effect after that, not at 2026-04-16T00:00:00Z")
        }
        #expect(throws: StoreInputError.self) {
            try store.cancelSubscription(id: sub.id, timing: .at(may1), now: t("2026-05-02T00:00:00Z"))
        }
        #expect(try store.subscriptions(customerKey: "acme").map(\.subscription.end) == [nil])
        // After the billed date, a change goes through and the next run bills it.
        _ = try store.changeSubscription(id: sub.id, planKey: "pro", version: nil, timing: nil, now: t("2026-05-16T00:00:00Z"))
        #expect(try BillRun(store: store).run(asOf: t("2026-06-01T01:00:00Z"), now: t("2026-06-01T01:00:00Z")).failedInvoices == 0)
        #expect(try store.invoice(id: "inv_acme_20260601") != nil)
    }

    @Test func aSecondRunWaitsForTheLock() throws {
        let store = try sampleStore()
        let lock = try store.runLock(holder: "bill run as of 2026-05-01T00:00:00Z")
        #expect(throws: RunLockedError.self) { try store.runLock(holder: "second") }
        do {
            _ = try store.runLock(holder: "second")
        } catch let error as RunLockedError {
            #expect(error.holder.hasPrefix("bill run as of 2026-05-01T00:00:00Z, pid "))
        }
        withExtendedLifetime(lock) {}
    }
}
