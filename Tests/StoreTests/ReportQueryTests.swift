import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

/// The queries the reports stream: invoices and lines of a range of bill dates with amounts in
/// exact minor units, the plan of each line, features' meters, credits carried past a date.
@Suite struct ReportQueryTests {
    /// Acme on Pro from April 1, with invoices billed April 1, May 1 and June 1.
    func fixture(_ backend: Backend) throws -> (store: any SQLRepositories, subscription: String) {
        let store = try temporaryStore(backend)
        let start = t("2026-03-01T00:00:00Z")
        _ = try store.importCatalog(try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json"))),
                                    at: start)
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd)], at: start)
        let subscription = try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil,
                                                    start: t("2026-04-01T00:00:00Z"), now: start).id
        let run = try store.startRun(asOf: start, dryRun: false, at: start)
        for (billDate, amount) in [("2026-04-01T00:00:00Z", "99.00"), ("2026-05-01T00:00:00Z", "99.5"), ("2026-06-01T00:00:00Z", "1.00")] {
            let period = Period(start: t(billDate), end: t(billDate) + 86_400)
            _ = try store.insertInvoice(DraftInvoice(customerKey: "acme", currency: .usd, billDate: t(billDate), lines: [
                InvoiceLine(kind: .fee, subscriptionId: subscription, rateCardKey: "base_fee", description: "Pro monthly fee",
                            period: period, amount: d(amount)),
                InvoiceLine(kind: .usage, subscriptionId: subscription, rateCardKey: "api_requests", featureKey: "api_requests",
                            description: "API requests", period: period, quantity: d("1234.5"), amount: d("0.25")),
                InvoiceLine(kind: .adjustment, subscriptionId: nil, rateCardKey: nil, description: "Credit", period: period, amount: d("-0.5")),
            ]), runId: run, at: start)
        }
        return (store, subscription)
    }

    @Test(arguments: Backend.allCases) func invoicesOfTheRangeInExactMinorUnits(_ backend: Backend) throws {
        let store = try fixture(backend).store
        var seen: [ReportInvoice] = []
        try store.forEachReportInvoice(billDateFrom: t("2026-04-01T00:00:00Z"), to: t("2026-06-01T00:00:00Z")) { seen.append($0) }
        // Half-open: June 1 is --to. May: 99.5 + 0.25 - 0.5 = 99.25 -> 9925 cents.
        #expect(seen.map(\.id) == ["inv_acme_20260401", "inv_acme_20260501"])
        #expect(seen.map(\.subtotal) == [9_875, 9_925])
        #expect(seen[1].status == .rated && seen[1].currency == .usd)
    }

    @Test(arguments: Backend.allCases) func linesWithTheirPlanInTheInvoicesOrder(_ backend: Backend) throws {
        let store = try fixture(backend).store
        var seen: [ReportLine] = []
        try store.forEachReportLine(billDateFrom: t("2026-05-01T00:00:00Z"), to: t("2026-07-01T00:00:00Z")) { seen.append($0) }
        #expect(seen.map(\.id) == ["inv_acme_20260501_1", "inv_acme_20260501_2", "inv_acme_20260501_3",
                                   "inv_acme_20260601_1", "inv_acme_20260601_2", "inv_acme_20260601_3"])
        #expect(seen.map(\.planKey) == ["pro", "pro", nil, "pro", "pro", nil])
        #expect(seen.map(\.amount) == [9_950, 25, -50, 100, 25, -50])
        #expect(seen[1].quantity == d("1234.5") && seen[1].featureKey == "api_requests" && seen[1].kind == .usage)
        #expect(seen[0].billDate == t("2026-05-01T00:00:00Z") && seen[0].customerKey == "acme" && seen[0].invoiceStatus == .rated)
    }

    @Test(arguments: Backend.allCases) func anAmountWithMoreDecimalsThanItsCurrencyIsRefused(_ backend: Backend) throws {
        let store = try fixture(backend).store
        try store.connection.run("UPDATE invoice_lines SET amount = '0.255' WHERE id = 'inv_acme_20260401_2'")
        #expect(throws: ReportAmountError.self) {
            try store.forEachReportLine(billDateFrom: t("2026-04-01T00:00:00Z"), to: t("2026-05-01T00:00:00Z")) { _ in }
        }
    }

    @Test(arguments: Backend.allCases) func featuresAndTheirMeters(_ backend: Backend) throws {
        let store = try fixture(backend).store
        #expect(try store.featureMeters()["api_requests"] == "api_requests")
    }

    @Test(arguments: Backend.allCases) func creditsCarriedPastADate(_ backend: Backend) throws {
        let (store, subscription) = try fixture(backend)
        func credit(_ amount: String, origin: String) -> CarriedCredit {
            CarriedCredit(line: InvoiceLine(kind: .prorationCredit, subscriptionId: subscription, rateCardKey: "base_fee",
                                            description: "Unused", period: Period(start: t(origin), end: t(origin) + 86_400),
                                            amount: d(amount)), originBillDate: t(origin))
        }
        // Made by the May invoice; taken by the June invoice.
        try store.replaceCredits(customerKey: "acme", consumed: [], billDate: t("2026-05-01T00:00:00Z"),
                                 leftOver: [credit("-10.00", origin: "2026-04-01T00:00:00Z")])
        let made = try store.openCredits(customerKey: "acme")
        try store.replaceCredits(customerKey: "acme", consumed: made.map(\.id), billDate: t("2026-06-01T00:00:00Z"),
                                 leftOver: [credit("-4.00", origin: "2026-04-01T00:00:00Z")])
        // Before May 1 nothing was carried yet; from May 1 up to June 1 the -10.00; from June 1 the -4.00 left.
        #expect(try store.carriedCredits(at: t("2026-05-01T00:00:00Z")).isEmpty)
        #expect(try store.carriedCredits(at: t("2026-05-15T00:00:00Z")).map(\.amount) == [d("-10.00")])
        let june = try store.carriedCredits(at: t("2026-06-15T00:00:00Z"))
        #expect(june.map(\.amount) == [d("-4.00")])
        #expect(june.first?.currency == .usd && june.first?.customerKey == "acme" && june.first?.originBillDate == t("2026-04-01T00:00:00Z"))
    }
}
