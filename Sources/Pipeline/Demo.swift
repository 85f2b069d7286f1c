import Billing
import Foundation
import Metering
import Store

/// `tollbooth demo`: a complete bill run on the built-in sample data, in a fresh store.
public enum Demo {
    public struct Result: Sendable {
        public var ingest: IngestSummary
        public var run: RunSummary
        public var subscriptions: Int
    }

    /// Loads the sample catalog and customers, subscribes everyone on October 1, plays the
    /// month's upgrade, downgrade and cancellation, ingests a month of usage and runs the bill
    /// run as of November 1, 02:00.
    public static func run(store: Store, progress: @escaping (String) -> Void = { _ in }) throws -> Result {
        let start = DemoData.month.start
        let catalog = try CatalogReader.read(Data(DemoData.catalogJSON.utf8))
        _ = try store.importCatalog(catalog, at: start)
        let customers = DemoData.customers
        _ = try store.importCustomers(customers, at: start)
        progress("loaded \(catalog.plans.count) plans and \(customers.count) customers")

        var current: [String: String] = [:]
        for (index, customer) in customers.enumerated() {
            let subscription = try store.createSubscription(customerKey: customer.key, planKey: DemoData.plan(for: index),
                                                            version: nil, anchor: nil, start: start, now: start)
            current[customer.key] = subscription.id
        }
        for event in DemoData.events {
            switch event {
            case .change(let customer, let plan, let at):
                guard let id = current[customer] else { continue }
                current[customer] = try store.changeSubscription(id: id, planKey: plan, version: nil, timing: nil, now: at).id
            case .cancel(let customer, let at):
                guard let id = current[customer] else { continue }
                _ = try store.cancelSubscription(id: id, timing: .immediate, now: at)
            }
        }

        let usage = DemoData.usage(customers: customers)
        var settings = Settings()
        settings.tax.provider = .rates
        settings.tax.rates = TaxRateTable(DemoData.taxRates)
        let ingestor = try Ingestor(store: store, now: DemoData.asOf, dedupeRetention: settings.dedupeRetention)
        let ingested = try ingestor.ingest(usage, input: "demo usage")
        progress("ingested \(ingested.accepted) usage events")

        let summary = try BillRun(store: store, settings: settings, progress: progress).run(asOf: DemoData.asOf, now: DemoData.asOf)
        return Result(ingest: ingested, run: summary, subscriptions: try store.subscriptions().count)
    }
}
