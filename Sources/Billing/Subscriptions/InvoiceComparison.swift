import Foundation

/// One customer's bills in a range, each rated twice on the same usage: with the live catalog
/// ("before") and with a candidate ("after"). Amounts are invoice totals with tax, exact.
public struct CustomerComparison: Hashable, Sendable {
    public var customerKey: String
    public var currency: Currency
    /// The plan of the customer's latest bill, live and as the candidate rated it.
    public var plan: String
    public var candidatePlan: String
    /// Bill dates with an invoice on either side.
    public var bills = 0
    public var before: Decimal = 0
    public var after: Decimal = 0
    /// The lines whose amount moved, largest move first, at most `LineChange.kept`.
    public var changes: [LineChange] = []

    public init(customerKey: String, currency: Currency, plan: String, candidatePlan: String) {
        self.customerKey = customerKey
        self.currency = currency
        self.plan = plan
        self.candidatePlan = candidatePlan
    }

    public var difference: Decimal { after - before }

    /// The difference as a fraction of `before` (0.1 for 10%), rounded to four decimals for
    /// display; nil when nothing was billed before.
    public var change: Decimal? { ComparisonTally<String>.change(difference, of: before) }

    /// Whether the customer pays more (1), less (-1) or the same (0) with the candidate.
    public var direction: Int { difference > 0 ? 1 : difference < 0 ? -1 : 0 }

    /// Adds one bill date, both drafts taxed. A bill with no line on either side adds nothing,
    /// as the bill run makes no invoice for it.
    public mutating func add(before live: DraftInvoice, after candidate: DraftInvoice) {
        guard !live.lines.isEmpty || !candidate.lines.isEmpty else { return }
        bills += 1
        before += live.total
        after += candidate.total
        changes = Array((changes + LineChange.changes(from: live, to: candidate))
            .sorted { ($0.difference.magnitude, $1.name, $1.billDate) > ($1.difference.magnitude, $0.name, $0.billDate) }
            .prefix(LineChange.kept))
    }
}

/// A line of a bill whose amount (before tax) differs between the two ratings. Lines are paired
/// by kind, subscription, rate card and service period start; a line on one side only is paired
/// with nothing (0).
public struct LineChange: Hashable, Sendable {
    /// How many of a customer's changes are kept: the ones that moved most.
    public static let kept = 3

    public var kind: LineKind
    public var rateCardKey: String?
    public var name: String
    public var billDate: Instant
    public var before: Decimal
    public var after: Decimal

    public var difference: Decimal { after - before }

    struct Pairing: Hashable {
        var kind: LineKind
        var subscriptionId: String?
        var rateCardKey: String?
        var periodStart: Instant
    }

    static func changes(from live: DraftInvoice, to candidate: DraftInvoice) -> [LineChange] {
        var order: [Pairing] = []
        var pairs: [Pairing: LineChange] = [:]
        func add(_ line: InvoiceLine, billDate: Instant, before: Decimal, after: Decimal) {
            let key = Pairing(kind: line.kind, subscriptionId: line.subscriptionId, rateCardKey: line.rateCardKey, periodStart: line.period.start)
            if pairs[key] == nil {
                order.append(key)
                pairs[key] = LineChange(kind: line.kind, rateCardKey: line.rateCardKey, name: line.description, billDate: billDate, before: 0, after: 0)
            }
            pairs[key]!.before += before
            pairs[key]!.after += after
        }
        for line in live.lines { add(line, billDate: live.billDate, before: line.amount, after: 0) }
        for line in candidate.lines { add(line, billDate: candidate.billDate, before: 0, after: line.amount) }
        return order.compactMap { pairs[$0] }.filter { $0.difference != 0 }
    }
}

/// Comparisons summed per group (a currency, a plan): customers, totals before and after, and
/// how many pay more, less or the same. Amounts of different currencies are never added: the
/// group key holds the currency.
public struct ComparisonTally<Key: Hashable & Comparable>: Sendable where Key: Sendable {
    public struct Entry: Hashable, Sendable {
        public var currency: Currency
        public var customers = 0
        public var before: Decimal = 0
        public var after: Decimal = 0
        public var more = 0, less = 0, same = 0

        public var difference: Decimal { after - before }
        public var change: Decimal? { ComparisonTally.change(difference, of: before) }
    }

    public private(set) var entries: [Key: Entry] = [:]

    /// `difference / before`, for display only: amounts stay exact.
    static func change(_ difference: Decimal, of before: Decimal) -> Decimal? {
        before == 0 ? nil : (difference / before).rounded(scale: 4)
    }

    public init() {}

    public mutating func add(_ comparison: CustomerComparison, to key: Key) {
        var entry = entries[key] ?? Entry(currency: comparison.currency)
        entry.customers += 1
        entry.before += comparison.before
        entry.after += comparison.after
        switch comparison.direction {
        case 1: entry.more += 1
        case -1: entry.less += 1
        default: entry.same += 1
        }
        entries[key] = entry
    }

    /// The groups in key order.
    public var sorted: [(key: Key, entry: Entry)] { entries.keys.sorted().map { ($0, entries[$0]!) } }
}
