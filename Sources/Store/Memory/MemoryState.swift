import Billing
import Foundation

/// Everything an in-memory store holds: one table of rows per table of SQLite's schema, amounts as
/// the decimal text SQLite stores, ids given as SQLite gives them. A value: copying it is a
/// snapshot, and putting a copy back is a rollback.
struct MemoryState {
    // Catalog: each value as read back from the JSON SQLite would store.
    var meters: [String: [Meter]] = [:]
    var features: [String: Feature] = [:]
    var plans: [PlanKey: Plan] = [:]

    // Customers
    var customers: [String: CustomerRow] = [:]
    /// subject -> customer key.
    var subjects: [String: String] = [:]

    var subscriptions: [String: SubscriptionRow] = [:]

    // Usage
    var batches: [Int64: BatchRow] = [:]
    var keyBlocks: [KeyBlockRow] = []
    var segments: [SegmentRow] = []
    var segmentKeys: Set<SegmentRow.Key> = []
    var usageLog: [SegmentRow] = []
    var usageLive: [LiveKey: SegmentRow] = [:]
    var uniqueValues: Set<UniqueValue> = []
    var quarantined: [QuarantineRow] = []

    // The job ledger
    var runs: [RunRow] = []
    var stages: [StageRow] = []
    var closes: [CloseKey: CloseRow] = [:]
    var credits: [CreditRow] = []
    var adjustments: [String: AdjustmentRow] = [:]

    // Invoices
    var invoices: [String: InvoiceRow] = [:]
    /// line id -> invoice id.
    var lineInvoices: [String: String] = [:]
    var rebills: [String: RebillRow] = [:]

    // Stripe
    var stripeCustomers: [StripeCustomerKey: StripeCustomerRow] = [:]
    var stripeEvents: [String: InboxEvent] = [:]
    var requests: [String: RequestRow] = [:]
    var reconciliations: [Reconciliation] = []
    var differences: [(reconciliation: Int64, difference: ReconciliationDifference)] = []

    // The server
    var tokens: [String: StoredToken] = [:]
    var apiKeys: [String: StoredAPIKey] = [:]
    var usageLinkKey: [UInt8]?

    /// Moved where SQLite's triggers move `change_counters`: once per row changed.
    var counters: [String: Int64] = ["attribution": 0, "credentials": 0, "payments": 0, "closes": 0]

    mutating func bump(_ counter: String, by rows: Int = 1) {
        counters[counter, default: 0] += Int64(rows)
    }
}

/// The rowid SQLite gives a new row of a table without AUTOINCREMENT: one more than the largest.
func nextRowId(_ ids: some Sequence<Int64>) -> Int64 { (ids.max() ?? 0) + 1 }

struct PlanKey: Hashable {
    var key: String
    var version: Int
}

struct CustomerRow {
    var customer: Customer
    var createdAt: Instant
    var updatedAt: Instant
}

struct SubscriptionRow {
    var id: String
    var customerKey: String
    var planKey: String
    var planVersion: Int
    var anchor: Instant
    var start: Instant
    var end: Instant?
    var predecessorId: String?
    var successorId: String?
    var createdAt: Instant
    var updatedAt: Instant
}

struct BatchRow {
    var id: Int64
    var input: String
    var startedAt: Instant
    var finishedAt: Instant?
    var accepted: Int64 = 0
    var duplicates: Int64 = 0
    var rejected: Int64 = 0
}

struct KeyBlockRow {
    var id: Int64
    var day: Int64
    var batchId: Int64?
    var keys: [UInt8]
}

/// A row of `usage_segments`, `usage_log` or `usage_live` (whose batch is the newest folded).
struct SegmentRow {
    struct Key: Hashable {
        var subscriptionId: String
        var meterSlug: String
        var windowStart: Int64
        var groupKey: String
        var batchId: Int64
    }

    var id: Int64 = 0
    var subscriptionId: String
    var meterSlug: String
    var windowStart: Int64
    var groupKey: String
    var batchId: Int64
    var count: Int64
    var sum: String
    var min: String
    var max: String
    var latestTime: Int64
    var latestValue: String
    var late: Int

    var key: Key { Key(subscriptionId: subscriptionId, meterSlug: meterSlug, windowStart: windowStart, groupKey: groupKey, batchId: batchId) }
    var liveKey: LiveKey { LiveKey(subscriptionId: subscriptionId, meterSlug: meterSlug, windowStart: windowStart, groupKey: groupKey, late: late) }
}

/// `usage_live`'s key: one row per window, group and lateness.
struct LiveKey: Hashable {
    var subscriptionId: String
    var meterSlug: String
    var windowStart: Int64
    var groupKey: String
    var late: Int

    /// SQLite's order for the key (`ORDER BY subscription_id, meter_slug, window_start, group_key, late`).
    func precedes(_ other: LiveKey) -> Bool {
        if subscriptionId != other.subscriptionId { return subscriptionId.sqlPrecedes(other.subscriptionId) }
        if meterSlug != other.meterSlug { return meterSlug.sqlPrecedes(other.meterSlug) }
        if windowStart != other.windowStart { return windowStart < other.windowStart }
        if groupKey != other.groupKey { return groupKey.sqlPrecedes(other.groupKey) }
        return late < other.late
    }
}

struct UniqueValue: Hashable {
    var subscriptionId: String
    var meterSlug: String
    var windowStart: Int64
    var value: String
}

struct QuarantineRow {
    var id: Int64
    var batchId: Int64
    var line: Int
    var reason: String
    var raw: String
}

struct RunRow {
    var id: Int64
    var asOf: Instant
    var startedAt: Instant
    var finishedAt: Instant?
    var status: String
    var dryRun: Bool
}

struct StageRow {
    var runId: Int64
    var stage: Stage
    var startedAt: Instant
    var finishedAt: Instant?
    var status: String
    var counts: String = "{}"
    var errors: String = ""
}

struct CloseKey: Hashable {
    var subscriptionId: String
    var billDate: Instant
}

struct CloseRow {
    var subscriptionId: String
    var billDate: Instant
    var customerKey: String
    var runId: Int64
    var ratedRunId: Int64?
    var invoiceId: String?
}

struct CreditRow {
    var id: Int64
    var customerKey: String
    var originBillDate: Instant
    var createdBillDate: Instant
    var kind: LineKind
    var subscriptionId: String?
    var rateCardKey: String?
    var featureKey: String?
    var description: String
    var periodStart: Instant
    var periodEnd: Instant
    var amount: String
    var taxBehavior: TaxBehavior
    var taxCode: String?
    var detail: String
    var consumedBillDate: Instant?
}

struct AdjustmentRow {
    var id: String
    var customerKey: String
    var amount: String
    var reason: String
    var createdAt: Instant
    var invoiceId: String?
}

struct InvoiceRow {
    var id: String
    var customerKey: String
    var billDate: Instant
    var currency: Currency
    var status: InvoiceStatus
    var subtotal: String
    var tax: String
    var total: String
    var periodStart: Instant?
    var periodEnd: Instant?
    var taxNote: String?
    var stripeInvoiceId: String?
    var number: String?
    var hostedInvoiceUrl: String?
    var invoicePdf: String?
    var failureStage: String?
    var failureMessage: String?
    var failureRequestId: String?
    var runId: Int64?
    var createdAt: Instant
    var updatedAt: Instant
    var taxRate: String?
    var taxRateName: String?
    var taxCountry: String?
    var taxState: String?
    var taxCalculationId: String?
    var taxTransactionId: String?
    var stripeAccount: String?
    var issueStartedAt: Instant?
    var issueGeneration: Int = 0
    var issuedAt: Instant?
    var stripeStatus: String?
    var amountDue: Int64?
    var amountPaid: Int64?
    var startingBalance: Int64?
    var attemptCount: Int = 0
    var nextPaymentAttempt: Instant?
    var paidAt: Instant?
    var paymentFailedAt: Instant?
    var uncollectibleAt: Instant?
    var voidedAt: Instant?
    var collectedAt: Instant?
    var stripeTotal: Int64?
    var voidReason: String?
    var stripeEventCreated: Instant?
    var paymentFailureReason: String?
    /// In position order.
    var lines: [LineRow] = []
}

struct LineRow {
    var id: String
    var kind: LineKind
    var subscriptionId: String?
    var rateCardKey: String?
    var featureKey: String?
    var description: String
    var periodStart: Instant
    var periodEnd: Instant
    var quantity: String?
    var amount: String
    var taxBehavior: TaxBehavior
    var taxCode: String?
    var taxAmount: String
    var detail: String
    var stripeItemId: String?
    var stripeLinesKey: String?
}

struct RebillRow {
    var lineId: String
    var customerKey: String
    var voidedAt: Instant
    var invoiceId: String?
}

struct StripeCustomerKey: Hashable {
    var customerKey: String
    var account: String
}

struct StripeCustomerRow {
    var stripeId: String?
    var requestedAt: Instant
    var createdAt: Instant?
    var syncedDigest: String?
    var defaultPaymentMethod: String?
    var paymentMethodsToCheck = true
}

struct RequestRow {
    var request: SubscriptionRequest
    var updatedAt: Instant
    var apiKeySecret: String?
}
