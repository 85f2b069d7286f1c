import Billing
import Foundation
import Metering
import Pipeline
import Store

/// What the usage route and the usage page show of a customer at one instant: the subscription
/// in service, its current billing period, per metered feature the usage of its usage period
/// (with quota and balance) and its usage per UTC day of the billing period, and the invoice the
/// next bill date would carry.
struct UsageReport: Sendable {
    struct Feature: Sendable {
        var key: String
        var name: String
        var meter: Meter
        /// The usage period for a feature with a quota, else the billing period.
        var period: Period
        var usage: Decimal
        var entitlement: MeteredEntitlement?
        /// Whether a check for the feature would pass now (units 0), with its reason if not.
        var denial: Entitlements.Denial?
        var daily: [DailyUsage]

        var limit: Decimal? { entitlement?.issueAfterReset }
        var balance: Decimal? { entitlement.map { max(0, $0.issueAfterReset - usage) } }
        var overage: Decimal? { entitlement.map { max(0, usage - $0.issueAfterReset) } }
        /// The quota spread evenly over its usage period: the daily pace at which it lasts
        /// exactly to the period's end (quota x 86,400 / the period's seconds, 6 decimals).
        var dailyQuota: Decimal? {
            guard let limit, period.seconds > 0 else { return nil }
            return (limit * Decimal(EventKeyBlock.secondsPerDay) / Decimal(period.seconds)).rounded(scale: 6)
        }
    }

    var customer: Customer
    var now: Instant
    var subscription: Subscription?
    var billingPeriod: Period?
    var features: [Feature] = []
    var invoice: DraftInvoice?

    /// The billing period of `subscription` holding `now`, cut to its service and phase.
    static func billingPeriod(of subscription: Subscription, at now: Instant) -> Period? {
        guard let window = subscription.window(at: now) else { return nil }
        let whole = PeriodSchedule(anchor: window.anchor, cadence: subscription.plan.billingCadence).period(containing: now)
        var end = whole.end
        if let phaseEnd = window.end { end = min(end, phaseEnd) }
        if let serviceEnd = subscription.serviceEnd { end = min(end, serviceEnd) }
        let start = max(whole.start, window.start, subscription.start)
        return Period(start: start, end: max(start, end))
    }
}

/// A connection of its own for the usage report's reads, on a queue of its own: a page view
/// never holds up the group commits of events and consuming checks on the server's writing
/// connection, and never waits for them either (WAL: readers see what was committed).
final class ReportReader: @unchecked Sendable {
    private let lock = NSLock()
    private var worker: StoreWorker?

    /// The reading connection, opened on first use on the same database as `live`.
    func worker(for live: LiveServer) throws -> StoreWorker {
        try lock.withLock {
            if let worker { return worker }
            let opened = StoreWorker(store: try live.worker.store.openConnection())
            worker = opened
            return opened
        }
    }
}

extension LiveServer {
    /// The usage report of a customer now, its store reads made on `reader`; nil when there is
    /// no such customer.
    func usageReport(customerKey: String, reader: StoreWorker) async throws -> UsageReport? {
        let snapshot = state.current
        guard let customer = snapshot.customers[customerKey] else { return nil }
        let now = self.now()
        var report = UsageReport(customer: customer, now: now)
        let settings = self.settings
        report.invoice = try await reader.run { store in
            try BillRun(store: store, settings: settings).preview(customerKey: customerKey, at: now)
        }
        guard let subscription = snapshot.subscriptions[customerKey]?.last(where: { $0.window(at: now) != nil }),
              let window = subscription.window(at: now), let billing = UsageReport.billingPeriod(of: subscription, at: now) else {
            return report
        }
        report.subscription = subscription
        report.billingPeriod = billing
        var seen: Set<String> = []
        for card in window.phase.rateCards {
            guard let featureKey = card.featureKey, let meter = snapshot.catalog.meter(for: card), seen.insert(featureKey).inserted else { continue }
            var feature = UsageReport.Feature(key: featureKey, name: card.name, meter: meter, period: billing, usage: 0, daily: [])
            var counted: Decimal?
            // Whether a check would pass now: payment access holds for every feature.
            let answer = try await check(CheckRequest(customerKey: customerKey, feature: featureKey, units: 0))
            feature.denial = answer.denial
            if let entitlement = card.meteredEntitlement,
               let period = Quota.usagePeriod(entitlement: entitlement, rateCardCadence: card.billingCadence ?? subscription.plan.billingCadence,
                                              subscriptionAnchor: window.anchor, subscriptionStart: max(subscription.start, window.start), now: now) {
                feature.entitlement = entitlement
                feature.period = period
                // The live count, with what consuming checks reserved; absent when the check is
                // refused before usage is counted (payment overdue), then read from the store.
                counted = answer.facts.usage
            }
            let period = feature.period, subscriptionId = subscription.id
            // Usage is kept per UTC day only in a phase with a quota (the ingest cuts its
            // windows at midnight there); elsewhere a day's figure would not be exact.
            let daysKept = window.phase.rateCards.contains { $0.meteredEntitlement != nil }
            let (stored, daily) = try await reader.run { store in
                (try store.quantity(meter: meter, subscriptionId: subscriptionId, period: period),
                 daysKept ? try store.daily(meter: meter, subscriptionId: subscriptionId, period: billing) : [])
            }
            feature.usage = counted ?? stored
            feature.daily = daily
            report.features.append(feature)
        }
        return report
    }
}

/// The usage JSON of `GET /v1/customers/{key}/usage`: quantities as JSON numbers (exact decimal
/// text), money as decimal strings in major units (the invoice JSON of `invoices preview
/// --format json`), instants as RFC 3339, days as `YYYY-MM-DD`.
enum UsageJSON {
    static func report(_ report: UsageReport) -> JSONValue {
        let subscription = report.subscription
        return .object([
            "customer": .string(report.customer.key),
            "name": .string(report.customer.name),
            "at": .string(report.now.rfc3339),
            "subscription": .string(subscription?.id),
            "plan": .string(subscription?.plan.key),
            "planName": .string(subscription?.plan.name),
            "planVersion": subscription.map { .number($0.plan.version) } ?? .null,
            "billingPeriodStart": .string(report.billingPeriod?.start.rfc3339),
            "billingPeriodEnd": .string(report.billingPeriod?.end.rfc3339),
            "features": .array(report.features.map(feature)),
            "invoice": report.invoice.map { InvoiceJSON.invoice(StoredInvoice(preview: $0)) } ?? .null,
        ])
    }

    static func feature(_ feature: UsageReport.Feature) -> JSONValue {
        func number(_ value: Decimal?) -> JSONValue { value.map { .number($0.plainString) } ?? .null }
        return .object([
            "feature": .string(feature.key),
            "name": .string(feature.name),
            "meter": .string(feature.meter.slug),
            "aggregation": .string(feature.meter.aggregation.rawValue),
            "hasAccess": .bool(feature.denial == nil),
            "reason": .string(feature.denial?.description),
            "usage": number(feature.usage),
            "limit": number(feature.limit),
            "balance": number(feature.balance),
            "overage": number(feature.overage),
            "isSoftLimit": feature.entitlement.map { .bool($0.isSoftLimit) } ?? .null,
            "dailyQuota": number(feature.dailyQuota),
            "periodStart": .string(feature.period.start.rfc3339),
            "periodEnd": .string(feature.period.end.rfc3339),
            "daily": .array(feature.daily.map { .object(["date": .string(day($0.day)), "usage": .number($0.value.plainString)]) }),
        ])
    }

    /// `YYYY-MM-DD` of an instant's UTC day.
    static func day(_ instant: Instant) -> String {
        String(instant.rfc3339.prefix(10))
    }
}
