import Foundation
import Testing
@testable import Billing
@testable import Metering
@testable import Store

/// Quota and access answers from the segments. Starter includes 10,000 API requests a month
/// (hard limit); its period runs from Apr 1 to May 1.
@Suite struct EntitlementTests {
    let apr1 = Instant(rfc3339: "2026-04-01T00:00:00Z")!
    let now = Instant(rfc3339: "2026-04-20T00:00:00Z")!

    func store(requests: Int) throws -> (SQLiteStore, Subscription) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-entitlements-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: folder.appendingPathComponent("tollbooth.db").path)
        let catalog = try CatalogReader.read(Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/catalogs/sample.json")))
        _ = try store.importCatalog(catalog, at: apr1)
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd, subjectKeys: ["acme-key"])], at: apr1)
        let sub = try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1)
        let lines = (0..<requests).map {
            #"{"specversion":"1.0","id":"r\#($0)","source":"gw","type":"api.request","subject":"acme-key","time":"2026-04-10T00:00:00Z","data":{}}"#
        }
        _ = try Ingestor(store: store, now: now, dedupeRetention: ISODuration("P90D")!).ingest(Data(lines.joined(separator: "\n").utf8), input: "test")
        return (store, sub)
    }

    @Test func usageSoFarInTheUsagePeriod() throws {
        let (store, sub) = try store(requests: 9_999)
        let usage = try #require(try Entitlements(store: store).usage(subject: "acme-key", featureKey: "api_requests", at: now))
        #expect(usage.used == 9_999)
        #expect(usage.subscriptionId == sub.id)
        #expect(usage.period == Period(start: apr1, end: Instant(rfc3339: "2026-05-01T00:00:00Z")!))
        // A new usage period starts from zero.
        #expect(try Entitlements(store: store).usage(subject: "acme-key", featureKey: "api_requests",
                                                     at: Instant(rfc3339: "2026-05-02T00:00:00Z")!)?.used == 0)
    }

    @Test func theHardLimitDeniesOnceTheQuotaIsReached() throws {
        // 9,999 used: one more is allowed, leaving 0.
        let (below, _) = try store(requests: 9_999)
        #expect(try Entitlements(store: below).check(subject: "acme-key", featureKey: "api_requests", at: now)
                == .allowed(.allowed(remaining: 0)))
        // 10,000 used: denied until the period resets on May 1.
        let (at, _) = try store(requests: 10_000)
        let decision = try Entitlements(store: at).check(subject: "acme-key", featureKey: "api_requests", at: now)
        #expect(decision == .denied(.quotaExhausted(feature: "api_requests", used: 10_000, limit: 10_000,
                                                    periodEnd: Instant(rfc3339: "2026-05-01T00:00:00Z")!)))
        if case .denied(let denial) = decision {
            #expect(denial.description == "quota exhausted: 10,000 of 10,000 api_requests used; it resets at 2026-05-01T00:00:00Z")
        }
    }

    @Test func deniedForAnUnknownKeyAFeatureNotInThePlanAnEndedSubscriptionOrAnUnpaidInvoice() throws {
        let (store, sub) = try store(requests: 1)
        let entitlements = try Entitlements(store: store)
        #expect(try entitlements.check(subject: "stranger", featureKey: "api_requests", at: now) == .denied(.invalidKey(subject: "stranger")))
        #expect(try entitlements.check(subject: "acme-key", featureKey: "tokens", at: now)
                == .denied(.featureNotInSubscription(feature: "tokens", plan: "starter")))
        try store.database.run("""
            INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
            VALUES ('inv_acme_20260401', 'acme', \(apr1.seconds), 'USD', 'uncollectible', '29', '0', '29', 0, 0)
            """)
        guard case .denied(.paymentOverdue(let reason)) = try entitlements.check(subject: "acme-key", featureKey: "api_requests", at: now) else {
            Issue.record("an uncollectible invoice must block access")
            return
        }
        #expect(reason.contains("inv_acme_20260401"))
        _ = try store.cancelSubscription(id: sub.id, timing: .immediate, now: Instant(rfc3339: "2026-04-15T00:00:00Z")!)
        #expect(try entitlements.check(subject: "acme-key", featureKey: "api_requests", at: now) == .denied(.noSubscription(customer: "acme")))
    }

    /// payment_failed gives access for the grace period (default 3 days) counted from the
    /// invoice's first recorded payment failure, as the collect stage stored it: Apr 15 + 3 days.
    @Test func aFailedPaymentBlocksOnceTheGraceFromItsFirstFailureIsOver() throws {
        let (store, _) = try store(requests: 1)
        let entitlements = try Entitlements(store: store)
        try store.database.run("""
            INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, created_at, updated_at)
            VALUES ('inv_acme_20260401', 'acme', \(apr1.seconds), 'USD', 'issued', '29', '0', '29', 0, 0)
            """)
        let firstFailure = Instant(rfc3339: "2026-04-15T00:00:00Z")!
        try store.recordPayment(invoiceId: "inv_acme_20260401", status: .paymentFailed,
                                payment: PaymentState(stripeStatus: "open", attemptCount: 1, paymentFailedAt: firstFailure), at: firstFailure)
        let stillInGrace = Instant(rfc3339: "2026-04-17T23:59:59Z")!
        #expect(try entitlements.check(subject: "acme-key", featureKey: "api_requests", at: stillInGrace) == .allowed(.allowed(remaining: 9_998)))
        guard case .denied(.paymentOverdue) = try entitlements.check(subject: "acme-key", featureKey: "api_requests",
                                                                     at: Instant(rfc3339: "2026-04-18T00:00:01Z")!) else {
            Issue.record("three days after the first failure, access must be blocked")
            return
        }
    }
}
