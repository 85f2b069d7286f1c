import Foundation
import Testing
@testable import Billing
@testable import Pipeline
@testable import Store

/// `Simulation`: bills rated with the live catalog and a candidate through the rate stage's own
/// `draft`. Where a candidate changes prices, the "after" side is compared with what a bill run
/// bills when the candidate is the live catalog, on the same history in a second store.
@Suite struct SimulationTests {
    let apr1 = t("2026-04-01T00:00:00Z")
    let may1 = t("2026-05-01T00:00:00Z")
    let jun1 = t("2026-06-01T00:00:00Z")
    let jul1 = t("2026-07-01T00:00:00Z")

    static let sample = try! String(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json"), encoding: .utf8)

    func catalog(_ text: String = SimulationTests.sample) throws -> Catalog { try CatalogReader.read(Data(text.utf8)) }

    /// The sample catalog with `old` replaced by `new` (which must occur once).
    func candidate(replacing old: String, with new: String) throws -> Catalog {
        let parts = SimulationTests.sample.components(separatedBy: old)
        try #require(parts.count == 2, "\(old) occurs \(parts.count - 1) times in sample.json")
        return try catalog(parts.joined(separator: new))
    }

    /// A store with `catalog` as its live catalog and four customers: acme (DE), globex (US CA,
    /// tax exempt), initech and umbrella (US NY).
    func makeStore(_ backend: Backend, catalog: Catalog) throws -> any Store {
        let store: any Store
        switch backend {
        case .memory: store = MemoryStore()
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-simulate-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            store = try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
        }
        _ = try store.importCatalog(catalog, at: t("2026-03-01T00:00:00Z"))
        _ = try store.importCustomers(try CustomerReader.read(Data("""
            [{"key": "acme", "name": "Acme", "currency": "USD", "billingAddress": {"country": "DE"}},
             {"key": "globex", "name": "Globex", "currency": "USD", "billingAddress": {"country": "US", "state": "CA"}, "taxExempt": "exempt"},
             {"key": "initech", "name": "Initech", "currency": "USD", "billingAddress": {"country": "US", "state": "NY"}},
             {"key": "umbrella", "name": "Umbrella", "currency": "USD", "billingAddress": {"country": "US", "state": "NY"}}]
            """.utf8)), at: t("2026-03-01T00:00:00Z"))
        return store
    }

    /// Each customer subscribed on Apr 1 to its plan, with its April and May API requests.
    func history(_ store: any Store, _ customers: [(key: String, plan: String, april: Int64, may: Int64)]) throws {
        for customer in customers {
            let subscription = try store.createSubscription(customerKey: customer.key, planKey: customer.plan, version: nil, anchor: nil,
                                                            start: apr1, now: apr1)
            if customer.april > 0 { try record(store, subscription: subscription.id, count: customer.april, at: t("2026-04-10T12:00:00Z")) }
            if customer.may > 0 { try record(store, subscription: subscription.id, count: customer.may, at: t("2026-05-10T12:00:00Z")) }
        }
    }

    var taxed: Settings {
        var settings = Settings()
        settings.tax.provider = .rates
        settings.tax.rates = TaxRateTable([TaxRate(country: "DE", rate: d("0.19"), name: "VAT"),
                                           TaxRate(country: "US", state: "NY", rate: d("0.08875"), name: "NY")])
        return settings
    }

    func simulate(_ store: any Store, settings: Settings = Settings(), candidate: Catalog, map: [String: String] = [:],
                  from: Instant, to: Instant) throws -> (customers: [String: CustomerComparison], outcome: SimulationOutcome) {
        var customers: [String: CustomerComparison] = [:]
        var order: [String] = []
        let outcome = try Simulation(store: store, settings: settings, candidate: candidate, map: map).run(from: from, to: to) {
            customers[$0.customerKey] = $0
            order.append($0.customerKey)
        }
        #expect(order == order.sorted(), "customers come in key order")
        return (customers, outcome)
    }

    /// Each customer's invoice totals with bill dates in `[from, to)`, as the bill run stored them.
    func billed(_ store: any Store, from: Instant, to: Instant) throws -> [String: Decimal] {
        var totals: [String: Decimal] = [:]
        for invoice in try store.invoices() where invoice.billDate >= from && invoice.billDate < to {
            totals[invoice.customerKey, default: 0] += invoice.total
        }
        return totals
    }

    @Test(arguments: Backend.allCases) func theLiveCatalogAsTheCandidateChangesNobodysBill(_ backend: Backend) throws {
        let live = try catalog()
        let store = try makeStore(backend, catalog: live)
        try history(store, [("acme", "starter", 12_345, 20_000), ("globex", "pro", 50_000, 0), ("initech", "enterprise", 2_000_000, 0),
                            ("umbrella", "pro", 0, 15_000)])
        // May 1 billed by a run; Jun 1 not closed yet: both are simulated.
        _ = try BillRun(store: store, settings: taxed).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        let invoices = try store.invoices()
        let closed = try store.lastClosedBillDates()
        #expect(closed.values.allSatisfy { $0 == may1 })
        let simulated = try simulate(store, settings: taxed, candidate: try store.catalog(), from: may1, to: jul1)
        #expect(simulated.customers.keys.sorted() == ["acme", "globex", "initech", "umbrella"])
        #expect(simulated.outcome.bills == 8)
        for comparison in simulated.customers.values {
            #expect(comparison.difference == 0, "\(comparison.customerKey)")
            #expect(comparison.changes.isEmpty)
            #expect(comparison.bills == 2)
            #expect(comparison.plan == comparison.candidatePlan)
        }
        // The May 1 bills as the rate and tax stages billed them: Acme on Starter in DE, 29.00 +
        // 12,345 x 0.002 = 24.69 -> 53.69, 19% VAT 10.20, total 63.89.
        let may = try simulate(store, settings: taxed, candidate: live, from: may1, to: jun1)
        #expect(may.customers.mapValues(\.before) == (try billed(store, from: may1, to: jun1)))
        #expect(may.customers["acme"]?.before == d("63.89"))
        // Nothing was written: the same invoices, no new closes.
        #expect(try store.invoices() == invoices)
        #expect(try store.pendingBills().isEmpty)
        #expect(try store.lastClosedBillDates() == closed)
    }

    @Test(arguments: Backend.allCases) func aUnitPriceRaisedTenPercentRaisesEachUsageLineTenPercentToTheCent(_ backend: Backend) throws {
        // Starter's API requests from 0.002 to 0.0022.
        let raised = try candidate(replacing: "\"amount\": \"0.002\"", with: "\"amount\": \"0.0022\"")
        let customers: [(key: String, plan: String, april: Int64, may: Int64)] = [
            ("acme", "starter", 12_345, 0), ("initech", "starter", 3, 0), ("umbrella", "starter", 0, 0), ("globex", "pro", 50_000, 0),
        ]
        let store = try makeStore(backend, catalog: try catalog())
        try history(store, customers)
        let simulated = try simulate(store, settings: taxed, candidate: raised, from: may1, to: jun1)
        // Acme: 12,345 x 0.002 = 24.69 -> 12,345 x 0.0022 = 27.159 -> 27.16 (24.69 x 1.1 = 27.159,
        // to the cent 27.16); with May's fee 29.00 and 19% VAT: 53.69 + 10.20 = 63.89 before,
        // 56.16 + 10.67 = 66.83 after.
        let acme = try #require(simulated.customers["acme"])
        #expect(acme.before == d("63.89"))
        #expect(acme.after == d("66.83"))
        #expect(acme.changes.map(\.rateCardKey) == ["api_requests"])
        #expect(acme.changes.first.map { [$0.before, $0.after] } == [d("24.69"), d("27.16")])
        // Initech: 3 x 0.002 = 0.006 -> 0.01; 3 x 0.0022 = 0.0066 -> 0.01: the same to the cent.
        #expect(simulated.customers["initech"]?.difference == 0)
        // Umbrella used nothing (0.00 both ways), Globex is on Pro: unchanged.
        #expect(simulated.customers["umbrella"]?.difference == 0)
        #expect(simulated.customers["globex"]?.difference == 0)

        // The rate stage with the candidate as the live catalog bills the same "after".
        let billedWithCandidate = try makeStore(backend, catalog: raised)
        try history(billedWithCandidate, customers)
        _ = try BillRun(store: billedWithCandidate, settings: taxed).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        #expect(simulated.customers.mapValues(\.after) == (try billed(billedWithCandidate, from: may1, to: jun1)))
    }

    @Test(arguments: Backend.allCases) func aTierMovedChangesTheCustomersCrossingItAndNoOthers(_ backend: Backend) throws {
        // Pro's first tier (0.001 a request) from up to 10,000 to up to 20,000 requests.
        let moved = try candidate(replacing: "\"upToAmount\": \"10000\"", with: "\"upToAmount\": \"20000\"")
        let customers: [(key: String, plan: String, april: Int64, may: Int64)] = [
            ("acme", "pro", 9_000, 0), ("globex", "pro", 16_000, 0), ("initech", "pro", 11_000, 0), ("umbrella", "starter", 15_000, 0),
        ]
        let store = try makeStore(backend, catalog: try catalog())
        try history(store, customers)
        let simulated = try simulate(store, candidate: moved, from: may1, to: jun1)
        // The first 1,000 requests are free (usage discount). Acme: 8,000 x 0.001 = 8.00, in
        // the first tier either way. Globex: 15,000 billed: 10,000 x 0.001 + 5.00 + 5,000 x
        // 0.0008 = 19.00 before; 15,000 x 0.001 = 15.00 after. Initech: 10,000 billed: 10.00
        // both ways (it reaches the old bound without crossing it). Umbrella is on Starter.
        #expect(simulated.customers["acme"]?.difference == 0)
        #expect(simulated.customers["initech"]?.difference == 0)
        #expect(simulated.customers["umbrella"]?.difference == 0)
        let globex = try #require(simulated.customers["globex"])
        #expect(globex.changes.first.map { [$0.before, $0.after] } == [d("19"), d("15")])
        // With May's fee 99.00: 118.00 -> 114.00.
        #expect((globex.before, globex.after) == (d("118"), d("114")))

        let billedWithCandidate = try makeStore(backend, catalog: moved)
        try history(billedWithCandidate, customers)
        _ = try BillRun(store: billedWithCandidate).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        #expect(simulated.customers.mapValues(\.after) == (try billed(billedWithCandidate, from: may1, to: jun1)))
    }

    @Test(arguments: Backend.allCases) func aMappedPlanIsRatedOnTheCandidatePlanItNames(_ backend: Backend) throws {
        let customers: [(key: String, plan: String, april: Int64, may: Int64)] = [("acme", "starter", 12_345, 0), ("globex", "pro", 50_000, 0)]
        let store = try makeStore(backend, catalog: try catalog())
        try history(store, customers)
        let simulated = try simulate(store, candidate: try catalog(), map: ["starter": "pro"], from: may1, to: jun1)
        // Acme, Starter -> Pro: before 29.00 + 24.69 = 53.69; after Pro's May fee 99.00 and
        // April's 12,345 requests less 1,000 free: 10,000 x 0.001 + 5.00 + 1,345 x 0.0008 =
        // 16.076 -> 16.08, and 0 tokens (0.00): 115.08.
        let acme = try #require(simulated.customers["acme"])
        #expect((acme.plan, acme.candidatePlan) == ("starter", "pro"))
        #expect((acme.before, acme.after) == (d("53.69"), d("115.08")))
        #expect(simulated.customers["globex"]?.difference == 0)

        // The same history on Pro from the start bills the same May 1 invoice.
        let onPro = try makeStore(backend, catalog: try catalog())
        try history(onPro, [("acme", "pro", 12_345, 0)])
        _ = try BillRun(store: onPro).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        #expect(try billed(onPro, from: may1, to: jun1)["acme"] == acme.after)
    }

    @Test func aPlanWithoutACounterpartIsReportedNotGuessed() throws {
        let store = try makeStore(.memory, catalog: try catalog())
        try history(store, [("acme", "starter", 100, 0), ("globex", "pro", 100, 0)])
        var withoutStarter = try catalog()
        withoutStarter.plans.removeAll { $0.key == "starter" }
        let simulated = try simulate(store, candidate: withoutStarter, from: may1, to: jun1)
        #expect(simulated.customers.keys.sorted() == ["globex"])
        #expect(simulated.outcome.unmatched == ["starter": ["acme"]])
    }

    @Test func aMapNamingAPlanNoCatalogHasIsRefused() throws {
        let store = try makeStore(.memory, catalog: try catalog())
        #expect(throws: SimulationError.self) { try Simulation(store: store, candidate: try catalog(), map: ["basic": "pro"]) }
        #expect(throws: SimulationError.self) { try Simulation(store: store, candidate: try catalog(), map: ["starter": "basic"]) }
        #expect(throws: SimulationError.self) {
            try Simulation(store: store, candidate: try catalog()).run(from: jun1, to: may1) { _ in }
        }
    }

    @Test(arguments: Backend.allCases) func withStripeTaxABilledBillKeepsTheRateOnItsInvoice(_ backend: Backend) throws {
        let store = try makeStore(backend, catalog: try catalog())
        try history(store, [("acme", "starter", 12_345, 0)])
        // May 1 billed and taxed from the rate table at 19% (the rate recorded on the invoice).
        _ = try BillRun(store: store, settings: taxed).run(asOf: t("2026-05-01T01:00:00Z"), now: t("2026-05-01T01:00:00Z"))
        var stripe = taxed
        stripe.tax.provider = .stripe
        stripe.tax.rates = TaxRateTable([TaxRate(country: "DE", rate: d("0.07"), name: "reduced")])
        // May 1, invoiced: 53.69 at the recorded 19% = 10.20, 63.89. Jun 1, not invoiced: the
        // local table's 7%: 29.00 + 0.00 of May's usage = 29.00, tax 2.03, 31.03. 94.92 in all.
        let simulated = try simulate(store, settings: stripe, candidate: try catalog(), from: may1, to: jul1)
        #expect(simulated.customers["acme"]?.before == d("94.92"))
        #expect(simulated.customers["acme"]?.difference == 0)
    }
}
