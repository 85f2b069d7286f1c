import Billing
import Foundation
import Pipeline
import Store
import Testing

/// `invoices void` refuses with a case per reason, checked before Stripe is asked anything.
@Suite struct VoidRefusalTests {
    let apr1 = Instant(rfc3339: "2026-04-01T00:00:00Z")!

    /// A store with the sample catalog, one customer on Starter from April 1, and the bill run
    /// as of April 1 01:00 done (April's fee rated and taxed; no Stripe, so nothing is issued).
    func billedStore() throws -> SQLiteStore {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-void-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/catalogs/sample.json")
        _ = try store.importCatalog(try CatalogReader.read(Data(contentsOf: fixtures)), at: apr1)
        _ = try store.importCustomers(try CustomerReader.read(Data(#"[{"key": "acme", "name": "Acme", "currency": "USD"}]"#.utf8)), at: apr1)
        _ = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        let asOf = Instant(seconds: apr1.seconds + 3600)
        _ = try BillRun(store: store).run(asOf: asOf, now: asOf)
        return store
    }

    func refusal(_ store: any Store, _ id: String) -> VoidRefusal? {
        do {
            try InvoiceVoider(store: store, stripe: nil, now: apr1).void(invoiceId: id, reason: "test")
            return nil
        } catch let refusal as VoidRefusal {
            return refusal
        } catch {
            return nil
        }
    }

    @Test func eachReasonIsItsOwnCase() throws {
        let store = try billedStore()
        #expect(refusal(store, "inv_nobody_20260401") == .notFound(invoiceId: "inv_nobody_20260401"))
        #expect(refusal(store, "inv_acme_20260401") == .notIssued(invoiceId: "inv_acme_20260401", status: .taxed))
        try store.setInvoiceStatus("inv_acme_20260401", .issued, at: apr1)
        #expect(refusal(store, "inv_acme_20260401") == .noStripeInvoice(invoiceId: "inv_acme_20260401"))
        try store.recordStripeInvoice(invoiceId: "inv_acme_20260401", stripeId: "in_1", at: apr1)
        #expect(refusal(store, "inv_acme_20260401") == .stripeNotConnected)
        try store.setInvoiceStatus("inv_acme_20260401", .paid, at: apr1)
        #expect(refusal(store, "inv_acme_20260401") == .paid(invoiceId: "inv_acme_20260401"))
        // The words stay for people.
        #expect(VoidRefusal.paid(invoiceId: "inv_acme_20260401").description
                == "invoice inv_acme_20260401 is paid: a paid invoice is refunded in Stripe, not voided; bill a correction with `tollbooth adjustments add`")
    }
}
