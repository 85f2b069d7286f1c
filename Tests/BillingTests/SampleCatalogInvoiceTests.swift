import Foundation
import Testing
@testable import Billing

/// A whole invoice from the sample catalog fixture, read the way the store reads it.
@Suite struct SampleCatalogInvoiceTests {
    @Test func proInvoiceFromTheSampleCatalog() throws {
        let catalog = try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
        let pro = try #require(catalog.plan(key: "pro"))
        let apr1 = t("2026-04-01T00:00:00Z"), may1 = t("2026-05-01T00:00:00Z")
        let sub = Subscription(id: "s1", customerKey: "acme", plan: pro, start: apr1)
        var records: [UsageRecord] = (0..<25_000).map { _ in
            UsageRecord(meterSlug: "api_requests", subscriptionId: "s1", time: t("2026-04-10T00:00:00Z"))
        }
        for tokens in ["1000000", "2000000", "500000"] {
            records.append(UsageRecord(meterSlug: "tokens", subscriptionId: "s1", time: t("2026-04-20T00:00:00Z"), value: d(tokens)))
        }
        let invoice = try InvoiceAssembler(catalog: catalog, usage: RecordedUsage(records))
            .draft(InvoiceRequest(customerKey: "acme", currency: .usd, billDate: may1, subscriptions: [sub]))
        // May's base fee 99.00 in advance.
        // Requests: 25,000 - 1,000 free = 24,000; 10,000 x 0.001 = 10.00, then 14,000 x 0.0008 = 11.20
        // plus the tier's flat 5.00 -> 26.20.
        // Tokens: 3,500,000 at 1,000,000 per package -> 4 packages x 2.00 = 8.00.
        // Total 99.00 + 26.20 + 8.00 = 133.20.
        #expect(invoice.lines.map { "\($0.rateCardKey ?? "") \($0.kind.rawValue) \($0.amount.plainString)" } ==
                ["base_fee fee 99", "api_requests usage 26.2", "tokens usage 8"])
        #expect(invoice.lines[1].quantity == 25_000)
        #expect(invoice.lines[1].detail.contains("1,000 free"))
        #expect(invoice.subtotal == d("133.20"))
    }
}
