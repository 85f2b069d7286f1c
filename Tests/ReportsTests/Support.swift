import Foundation
@testable import Billing
@testable import Store

func d(_ text: String) -> Decimal { Decimal(exactly: text)! }
func t(_ text: String) -> Instant { Instant(rfc3339: text)! }

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh folder for a test's database and reports.
func temporaryFolder() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-reports-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

/// The report range of the fixture: bill dates in [2026-04-01, 2026-07-01).
let rangeStart = t("2026-04-01T00:00:00Z"), rangeEnd = t("2026-07-01T00:00:00Z")

/// A store holding invoices in every state a report distinguishes, made through the Store API:
///
/// | invoice                   | status   | lines                                                        | subtotal | tax  | total |
/// |---------------------------|----------|--------------------------------------------------------------|----------|------|-------|
/// | inv_acme_20260401         | void     | fee 29.00 (tax 2.10)                                         | 29.00    | 2.10 | 31.10 |
/// | inv_acme_20260501         | paid     | fee 29.00 (tax 2.10), usage 5 x 0.002 = 0.01, adjustment -1.00 | 28.01  | 2.10 | 30.11 |
/// | inv_umbrella_20260501     | issued   | fee 3000 JPY, usage 500 x 2 = 1000 JPY                       | 4000     | 0    | 4000  |
/// | inv_acme_20260601         | failed   | fee 29.00 (tax 2.10)                                         | 29.00    | 2.10 | 31.10 |
/// | inv_acme_20260701         | taxed    | fee 29.00 (tax 2.10): outside the range                      |          |      |       |
///
/// A finished reconciliation of the range found Stripe's total of the umbrella invoice to be
/// 4100 JPY, a balance Stripe carried on acme's May invoice, and a Stripe invoice naming no
/// local one. Acme carries a credit of -5.00 out of June.
func fixtureStore(in folder: URL) throws -> SQLiteStore {
    let store = try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
    let start = t("2026-03-01T00:00:00Z")
    for name in ["sample", "jpy"] {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Tests/Fixtures/catalogs/\(name).json"))
        _ = try store.importCatalog(try CatalogReader.read(data), at: start)
    }
    _ = try store.importCustomers([
        Customer(key: "acme", name: "Acme, Inc.", email: "billing@acme.example", currency: .usd,
                 billingAddress: .init(country: "US", state: "CA")),
        Customer(key: "umbrella", name: "Umbrella 株式会社", email: "billing@umbrella.example", currency: .jpy,
                 billingAddress: .init(country: "JP")),
    ], at: start)
    let acme = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil,
                                            start: t("2026-04-01T00:00:00Z"), now: start).id
    let umbrella = try store.createSubscription(customerKey: "umbrella", planKey: "starter_jp", version: nil, anchor: nil,
                                                start: t("2026-04-01T00:00:00Z"), now: start).id
    let run = try store.startRun(asOf: start, dryRun: false, at: start)
    let usTax = AppliedTax(rate: d("0.0725"), name: "US sales tax", country: "US", state: nil)

    func period(_ from: String, _ to: String) -> Period { Period(start: t(from), end: t(to)) }
    func fee(_ subscription: String, _ amount: String, tax: String, _ billDate: String, _ next: String) -> InvoiceLine {
        InvoiceLine(kind: .fee, subscriptionId: subscription, rateCardKey: "base_fee", description: "Monthly fee",
                    period: period(billDate, next), amount: d(amount), taxAmount: d(tax), detail: amount)
    }
    func invoice(_ customer: String, _ currency: Currency, _ billDate: String, _ lines: [InvoiceLine], tax: AppliedTax?) throws -> String {
        let draft = DraftInvoice(customerKey: customer, currency: currency, billDate: t(billDate), lines: lines)
        let id = try store.insertInvoice(draft, runId: run, at: start)
        let stored = try store.lines(invoiceId: id).enumerated().map { StoredLine(id: $0.element.id, line: lines[$0.offset]) }
        try store.updateTax(invoiceId: id, lines: stored, note: nil, applied: tax, status: .taxed, at: start)
        return id
    }

    let april = try invoice("acme", .usd, "2026-04-01T00:00:00Z",
                            [fee(acme, "29.00", tax: "2.10", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z")], tax: usTax)
    try store.recordPayment(invoiceId: april, status: .void, payment: PaymentState(stripeStatus: "void"), at: start)

    let may = try invoice("acme", .usd, "2026-05-01T00:00:00Z", [
        fee(acme, "29.00", tax: "2.10", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"),
        InvoiceLine(kind: .usage, subscriptionId: acme, rateCardKey: "api_requests", featureKey: "api_requests", description: "API requests",
                    period: period("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"), quantity: d("5"), amount: d("0.01"),
                    detail: "5 x 0.002"),
        InvoiceLine(kind: .adjustment, subscriptionId: nil, rateCardKey: nil, description: "Goodwill, \"sorry\"",
                    period: period("2026-04-20T00:00:00Z", "2026-04-20T00:00:00Z"), amount: d("-1.00")),
    ], tax: usTax)
    try store.recordStripeInvoice(invoiceId: may, stripeId: "in_may", at: start)
    try store.markIssued(invoiceId: may, number: "ACME-0001", hostedInvoiceUrl: nil, invoicePdf: nil, stripeTotal: 3011, at: start)
    try store.recordPayment(invoiceId: may, status: .paid,
                            payment: PaymentState(stripeStatus: "paid", amountDue: 3011, amountPaid: 3011, paidAt: t("2026-05-03T12:30:00Z")),
                            at: start)

    let umbrellaMay = try invoice("umbrella", .jpy, "2026-05-01T00:00:00Z", [
        InvoiceLine(kind: .fee, subscriptionId: umbrella, rateCardKey: "base_fee", description: "月額基本料金",
                    period: period("2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"), amount: d("3000"), detail: "3000"),
        InvoiceLine(kind: .usage, subscriptionId: umbrella, rateCardKey: "api_requests", featureKey: "api_requests", description: "API requests",
                    period: period("2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"), quantity: d("500"), amount: d("1000"),
                    detail: "500 x 2"),
    ], tax: nil)
    try store.recordStripeInvoice(invoiceId: umbrellaMay, stripeId: "in_umbrella", at: start)
    try store.markIssued(invoiceId: umbrellaMay, number: "UMB-0001", hostedInvoiceUrl: nil, invoicePdf: nil, stripeTotal: 4000, at: start)
    // The reconcile stage later read 4,100 JPY from Stripe (the total difference below).
    try store.recordStripeTotal(invoiceId: umbrellaMay, 4100)

    let june = try invoice("acme", .usd, "2026-06-01T00:00:00Z",
                           [fee(acme, "29.00", tax: "2.10", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z")], tax: usTax)
    try store.setInvoiceStatus(june, .failed, failure: .init(stage: "issue", message: "Stripe answered 500: try again later",
                                                            stripeRequestId: "req_123"), at: start)

    _ = try invoice("acme", .usd, "2026-07-01T00:00:00Z",
                    [fee(acme, "29.00", tax: "2.10", "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z")], tax: usTax)

    let reconciliation = try store.startReconciliation(runId: nil, from: rangeStart, to: rangeEnd, account: "acct_test", at: start)
    try store.recordDifference(.init(invoiceId: umbrellaMay, stripeInvoiceId: "in_umbrella", customerKey: "umbrella", kind: .total,
                                     local: "4000 JPY", stripe: "4100 JPY", detail: "Stripe's total is 100 JPY more than Tollbooth's"),
                               reconciliation: reconciliation)
    try store.recordDifference(.init(invoiceId: may, stripeInvoiceId: "in_may", customerKey: "acme", kind: .carriedBalance,
                                     local: nil, stripe: "-0.30 USD", detail: "Stripe applied a balance carried from an earlier invoice"),
                               reconciliation: reconciliation)
    try store.recordDifference(.init(invoiceId: nil, stripeInvoiceId: "in_orphan", customerKey: nil, kind: .orphan,
                                     local: nil, stripe: "12.00 USD", detail: "names inv_gone_20260501, which Tollbooth does not have"),
                               reconciliation: reconciliation)
    try store.finishReconciliation(reconciliation, compared: 3, at: start)

    try store.replaceCredits(customerKey: "acme", consumed: [], billDate: t("2026-06-01T00:00:00Z"), leftOver: [
        CarriedCredit(line: InvoiceLine(kind: .prorationCredit, subscriptionId: acme, rateCardKey: "base_fee", description: "Unused fee",
                                        period: period("2026-05-16T00:00:00Z", "2026-06-01T00:00:00Z"), amount: d("-5.00")),
                      originBillDate: t("2026-05-01T00:00:00Z")),
    ])
    return store
}
