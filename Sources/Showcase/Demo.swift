import Billing
import Foundation
import Logging
import Metering
import Pipeline
import Store

/// `tollbooth demo`: a complete bill run on the built-in sample data, in a fresh store.
public enum Demo {
    public struct Result: Sendable {
        public var ingest: IngestSummary
        public var run: RunSummary
        public var subscriptions: Int
        /// The re-run of the invoice the demo's Stripe fault failed, when Stripe took part.
        public var rerun: (invoiceId: String, summary: RunSummary)?
        /// The customer whose card the demo declines.
        public var declinedCustomer: String?
    }

    /// The demo's Stripe: a connection to a local `stripe-sim` and the customer's side of it.
    public struct StripeSide {
        public let connection: StripeConnection
        /// Completes a Checkout session as the customer would, saving the test card `card`.
        public let completeCheckout: (_ sessionId: String, _ card: String) throws -> Void
        /// Makes the next `count` API writes under `path` fail with HTTP 500.
        public let failWrites: (_ path: String, _ count: Int) throws -> Void

        public init(connection: StripeConnection, completeCheckout: @escaping (String, String) throws -> Void,
                    failWrites: @escaping (String, Int) throws -> Void) {
            self.connection = connection
            self.completeCheckout = completeCheckout
            self.failWrites = failWrites
        }
    }

    /// A card that passes Stripe's check when saved and declines when charged (0341), saved by
    /// one customer of the demo.
    public static let declinedCard = "pm_card_chargeCustomerFail"

    /// Loads the sample catalog and customers, subscribes everyone on October 1, plays the
    /// month's upgrade, downgrade and cancellation, ingests a month of usage and runs the bill
    /// run as of November 1, 02:00.
    ///
    /// With `stripe`, every customer first saves a card through a Checkout link (one of them a
    /// card that declines when charged), and one call adding an invoice's lines fails until the
    /// client gives up: the run issues the invoices, one of them fails, the payments come back
    /// (one declined), and the failed invoice is re-run.
    public static func run(store: any Store, stripe: StripeSide? = nil, progress: @escaping (String) -> Void = { _ in }) throws -> Result {
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
        // One invoice at a time, so the failing call above is the first invoice's.
        settings.stripe.concurrency = 1
        settings.tax.provider = .rates
        settings.tax.rates = TaxRateTable(DemoData.taxRates)
        let ingestor = try Ingestor(store: store, now: DemoData.asOf, dedupeRetention: settings.dedupeRetention)
        let ingested = try ingestor.ingest(usage, input: "demo usage")
        progress("ingested \(ingested.accepted) usage events")

        var declined: String?
        if let stripe {
            declined = try savePaymentMethods(store: store, customers: customers, stripe: stripe)
            progress("every customer saved a card through a Checkout link; \(declined ?? "none")'s will decline")
            // The first call that adds lines to an invoice answers 500 on every retry: its invoice fails.
            try stripe.failWrites("/v1/invoices/", 4)
        }
        let billRun = BillRun(store: store, settings: settings, stripe: stripe?.connection, failpoints: Failpoints(environment: [:]),
                              logger: Logger(label: "tollbooth.demo", factory: { _ in SwiftLogNoOpLogHandler() }), progress: progress)
        let summary = try billRun.run(asOf: DemoData.asOf, now: DemoData.asOf)
        var result = Result(ingest: ingested, run: summary, subscriptions: try store.subscriptions().count, declinedCustomer: declined)
        if stripe != nil, let failed = try store.invoices(status: .failed, withLines: false).first {
            result.rerun = (failed.id, try billRun.rerun(invoiceIds: [failed.id], now: DemoData.asOf))
        }
        return result
    }

    /// Each customer saves a card through a Checkout link, and it becomes the one its invoices
    /// charge; the second customer's card declines. Returns that customer's key.
    static func savePaymentMethods(store: any Store, customers: [Customer], stripe: StripeSide) throws -> String? {
        let payments = CustomerPayments(store: store, connection: stripe.connection, now: DemoData.asOf)
        let declined = customers.count > 1 ? customers[1].key : nil
        for customer in customers {
            let session = try payments.paymentLink(customerKey: customer.key, successUrl: "https://billing.example/payment-method-saved")
            try stripe.completeCheckout(session.id, customer.key == declined ? declinedCard : "pm_card_visa")
            try payments.useNewestPaymentMethod(customerKey: customer.key)
        }
        return declined
    }
}
