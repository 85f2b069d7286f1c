import Billing
import Foundation

/// One (subscription, bill date) closed but not yet rated, grouped by customer and bill date.
public struct PendingBill: Hashable, Sendable {
    public var customerKey: String
    public var billDate: Instant
    public var subscriptionIds: [String]

    public init(customerKey: String, billDate: Instant, subscriptionIds: [String]) {
        self.customerKey = customerKey
        self.billDate = billDate
        self.subscriptionIds = subscriptionIds
    }
}

/// What the rate stage reads for a group of bills, in a few queries for the whole group rather
/// than several for each bill. Read inside the group's write transaction, as the reads it stands
/// for are, so it holds what the group's own writes start from.
public struct RatingReads {
    /// Each customer's subscriptions, oldest first, as `subscriptions(customerKey:)` reads them.
    public var subscriptions: [String: [SubscriptionRecord]]
    /// The customers with an open credit, adjustment or voided line to bill again: the others
    /// have none to read.
    public var customersWithOpenItems: Set<String>
    /// The usage of these customers' subscriptions.
    public var usage: any UsageSource

    public init(subscriptions: [String: [SubscriptionRecord]], customersWithOpenItems: Set<String>, usage: any UsageSource) {
        self.subscriptions = subscriptions
        self.customersWithOpenItems = customersWithOpenItems
        self.usage = usage
    }
}

/// The job ledger (runs, stages, period closes) and what carries from one bill to the next
/// (credits, adjustments).
public protocol LedgerRepository: AnyObject {
    /// Records a run; runs left `running` by a process that died are marked abandoned, counted
    /// in `abandoned`.
    func startRun(asOf: Instant, dryRun: Bool, at now: Instant, abandoned: inout Int) throws -> Int64
    func finishRun(_ id: Int64, succeeded: Bool, at now: Instant) throws
    func startStage(_ stage: Stage, run: Int64, at now: Instant) throws
    func finishStage(_ stage: Stage, run: Int64, counts: [(String, Int)], errors: [String], at now: Instant) throws
    /// The newest runs, newest first.
    func ledger(limit: Int) throws -> [(run: Int64, asOf: Instant, status: String, stage: String, counts: String, errors: String)]
    func closedBillDates(subscriptionId: String) throws -> [Instant]
    /// Each customer's latest closed bill date.
    func lastClosedBillDates() throws -> [String: Instant]
    /// Closes a subscription's period at `billDate`; false when it was closed already.
    @discardableResult
    func close(subscriptionId: String, customerKey: String, billDate: Instant, run: Int64) throws -> Bool
    /// Closes many periods at once, as `close` does each; returns how many were not closed before.
    func close(_ closes: [(subscriptionId: String, customerKey: String, billDate: Instant)], run: Int64) throws -> Int
    /// Closed bill dates whose invoice is not yet made, oldest first.
    func pendingBills() throws -> [PendingBill]
    /// The pending bills of these customers, in the same order.
    func pendingBills(customerKeys: [String]) throws -> [PendingBill]
    func markRated(_ bill: PendingBill, run: Int64, invoiceId: String?) throws
    /// Marks many bills rated at once, as `markRated` does each.
    func markRated(_ bills: [(bill: PendingBill, invoiceId: String?)], run: Int64) throws
    /// What the rate stage reads for a group of bills: the customers' subscriptions, which of
    /// them have open items, and their usage in `[usageFrom, usageTo)`, read at once.
    func ratingReads(customerKeys: [String], catalog: Catalog, usageFrom: Instant, usageTo: Instant) throws -> RatingReads
    func openCredits(customerKey: String) throws -> [(id: Int64, credit: CarriedCredit)]
    func replaceCredits(customerKey: String, consumed: [Int64], billDate: Instant, leftOver: [CarriedCredit]) throws
    /// Every customer's credit balance: the sum of credits not yet taken (negative).
    func creditBalances() throws -> [String: Decimal]
    @discardableResult
    func addAdjustment(customerKey: String, amount: Decimal, reason: String, at now: Instant) throws -> String
    func openAdjustments(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)]
    func attachAdjustments(_ ids: [String], invoiceId: String) throws
}

extension LedgerRepository {
    public func pendingBills(customerKeys: [String]) throws -> [PendingBill] {
        let wanted = Set(customerKeys)
        return try pendingBills().filter { wanted.contains($0.customerKey) }
    }

    public func startRun(asOf: Instant, dryRun: Bool, at now: Instant) throws -> Int64 {
        var abandoned = 0
        return try startRun(asOf: asOf, dryRun: dryRun, at: now, abandoned: &abandoned)
    }

    public func ledger() throws -> [(run: Int64, asOf: Instant, status: String, stage: String, counts: String, errors: String)] {
        try ledger(limit: 20)
    }
}
