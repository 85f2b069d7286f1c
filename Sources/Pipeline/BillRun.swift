import Billing
import Foundation
import Logging
import Store

/// What one stage did.
public struct StageSummary: Sendable {
    public var stage: Stage
    public var counts: [(String, Int)]
    public var errors: [String]
    /// The stage's one-line report ("rated 42 invoices (3 without lines)").
    public var message: String
}

public struct RunSummary: Sendable {
    public var runId: Int64?
    public var stages: [StageSummary] = []
    /// Invoices a stage failed: the run exits 1.
    public var failedInvoices: Int { stages.reduce(0) { $0 + ($1.counts.first { $0.0 == "failed" }?.1 ?? 0) } }
}

/// The staged bill run: close, rate, tax, issue, collect, reconcile. Each stage is idempotent
/// and resumable: it works only on what the ledger says is not done yet, and writes each unit
/// of work (a close, an invoice) in its own transaction, so a run killed at any point and run
/// again ends with the same invoices, never a duplicate.
public final class BillRun {
    let store: Store
    let settings: Settings
    /// Whether a Stripe key is set up; until then the issue, collect and reconcile stages wait.
    let stripeConfigured: Bool
    let logger: Logger
    let progress: (String) -> Void
    /// Customers read once per stage rather than once per bill.
    var customers: [String: Customer] = [:]

    public init(store: Store, settings: Settings = Settings(), stripeConfigured: Bool = false,
                logger: Logger = Logger(label: "tollbooth.run"), progress: @escaping (String) -> Void = { _ in }) {
        self.store = store
        self.settings = settings
        self.stripeConfigured = stripeConfigured
        self.logger = logger
        self.progress = progress
    }

    /// Runs `stages` (all by default) as of `asOf`; `now` is the clock time recorded in the ledger.
    public func run(asOf: Instant, stages: [Stage] = Stage.allCases, dryRun: Bool = false, now: Instant) throws -> RunSummary {
        var summary = RunSummary()
        if dryRun {
            summary.stages.append(try previewRun(asOf: asOf))
            return summary
        }
        let runId = try store.startRun(asOf: asOf, dryRun: false, at: now)
        summary.runId = runId
        var succeeded = false
        defer { try? store.finishRun(runId, succeeded: succeeded, at: now) }
        for stage in Stage.allCases where stages.contains(stage) {
            try store.startStage(stage, run: runId, at: now)
            let result: StageSummary
            switch stage {
            case .close: result = try close(asOf: asOf, run: runId)
            case .rate: result = try rate(asOf: asOf, run: runId, now: now)
            case .tax: result = try tax(now: now)
            case .issue: result = try issue(now: now)
            case .collect, .reconcile: result = waitForStripe(stage)
            }
            try store.finishStage(stage, run: runId, counts: result.counts, errors: result.errors, at: now)
            logger.info("\(result.message)", metadata: ["run.id": "\(runId)", "stage": "\(stage.rawValue)"])
            summary.stages.append(result)
        }
        succeeded = summary.failedInvoices == 0
        return summary
    }

    /// The last instant whose periods may be closed: as-of less the collection window.
    func closeHorizon(_ asOf: Instant) -> Instant {
        let window = settings.collectionWindow
        return Instant(seconds: asOf.seconds - Int64(window.days) * 86_400 - Int64(window.seconds)).adding(months: -window.months)
    }

    func customersByKey() throws -> [String: Customer] {
        Dictionary(try store.customers().map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Bills (and invoices taxed) per transaction.
    static let commitGroup = 500

    // MARK: close

    func close(asOf: Instant, run: Int64) throws -> StageSummary {
        let horizon = closeHorizon(asOf)
        let records = try store.subscriptions()
        let lastClosed = try store.lastClosedBillDates()
        var closed = 0
        for record in records {
            let subscription = record.subscription
            let dates = subscription.billDates(after: lastClosed[subscription.id], through: horizon)
            guard !dates.isEmpty else { continue }
            try store.transaction {
                for date in dates where try store.close(subscriptionId: subscription.id, customerKey: subscription.customerKey,
                                                        billDate: date, run: run) {
                    closed += 1
                }
            }
        }
        let lateBills = try scheduleLateBills(records: records, asOf: asOf, horizon: horizon, run: run)
        var message = "closed \(closed) billing periods"
        if lateBills > 0 { message += "; \(lateBills) customers without a subscription get an invoice for late usage" }
        return StageSummary(stage: .close, counts: [("closed", closed), ("late_bills", lateBills)], errors: [], message: message)
    }

    /// Late usage of a customer whose subscriptions have all been billed to the end is billed at
    /// the first boundary of the last subscription's anchor after as-of.
    func scheduleLateBills(records: [SubscriptionRecord], asOf: Instant, horizon: Instant, run: Int64) throws -> Int {
        let late = try store.lateWindows()
        guard !late.isEmpty else { return 0 }
        let byId = Dictionary(records.map { ($0.id, $0.subscription) }, uniquingKeysWith: { first, _ in first })
        let pending = Set(try store.pendingBills().map(\.customerKey))
        var scheduled = 0
        for customerKey in Set(late.compactMap { byId[$0.subscriptionId]?.customerKey }).sorted() where !pending.contains(customerKey) {
            let subscriptions = records.map(\.subscription).filter { $0.customerKey == customerKey }
            let billsAgain = subscriptions.contains { $0.finalBillDate.map { $0 > horizon } ?? true }
            guard !billsAgain, let last = subscriptions.max(by: { $0.start < $1.start }) else { continue }
            if try store.close(subscriptionId: last.id, customerKey: customerKey, billDate: last.anchorBoundary(after: asOf), run: run) {
                scheduled += 1
            }
        }
        return scheduled
    }

    // MARK: rate

    func rate(asOf: Instant, run: Int64, now: Instant) throws -> StageSummary {
        let horizon = closeHorizon(asOf)
        let catalog = try store.catalog()
        let assembler = InvoiceAssembler(catalog: catalog, usage: store.usage)
        let bills = try store.pendingBills().filter { $0.billDate <= horizon }
        let late = try lateWindowsBySubscription()
        customers = try customersByKey()
        var rated = 0, empty = 0
        // Bills commit in groups: each bill's writes stay atomic (a group commits whole or not at
        // all), and a commit per group rather than per bill keeps the write-ahead log short.
        for start in stride(from: 0, to: bills.count, by: BillRun.commitGroup) {
            try store.transaction {
                for bill in bills[start..<min(bills.count, start + BillRun.commitGroup)] {
                    if try rate(bill, assembler: assembler, late: late, run: run, now: now) { rated += 1 } else { empty += 1 }
                }
            }
            progress("rate: \(rated + empty) of \(bills.count) bill dates")
        }
        return StageSummary(stage: .rate, counts: [("rated", rated), ("without_lines", empty)], errors: [],
                            message: "rated \(rated) invoices" + (empty > 0 ? " (\(empty) bill dates had nothing to bill)" : ""))
    }

    /// Rates one customer's bill date: the invoice and lines, credits consumed and left over,
    /// adjustments attached, late usage marked billed, the close marked rated. False when the
    /// bill date had nothing to bill (no invoice).
    func rate(_ bill: PendingBill, assembler: InvoiceAssembler, late: [String: [(meterSlug: String, windowStart: Instant)]],
              run: Int64, now: Instant) throws -> Bool {
        let draft = try self.draft(bill, assembler: assembler, late: late)
        let invoiceId = draft.invoice.lines.isEmpty ? nil : try store.insertInvoice(draft.invoice, runId: run, at: now)
        try store.replaceCredits(customerKey: bill.customerKey, consumed: draft.creditIds, billDate: bill.billDate,
                                 leftOver: draft.invoice.carriedCredits)
        if let invoiceId { try store.attachAdjustments(draft.adjustmentIds, invoiceId: invoiceId) }
        for late in draft.latePeriods { try store.markLateBilled(subscriptionId: late.subscriptionId, period: late.period) }
        try store.markRated(bill, run: run, invoiceId: invoiceId)
        return invoiceId != nil
    }

    struct Draft {
        var invoice: DraftInvoice
        var creditIds: [Int64]
        var adjustmentIds: [String]
        var latePeriods: [(subscriptionId: String, period: Period)]
    }

    func lateWindowsBySubscription() throws -> [String: [(meterSlug: String, windowStart: Instant)]] {
        var result: [String: [(meterSlug: String, windowStart: Instant)]] = [:]
        for window in try store.lateWindows() { result[window.subscriptionId, default: []].append((window.meterSlug, window.windowStart)) }
        return result
    }

    /// The draft invoice of a customer's bill date, with what it takes from the store.
    func draft(_ bill: PendingBill, assembler: InvoiceAssembler,
               late: [String: [(meterSlug: String, windowStart: Instant)]]) throws -> Draft {
        let records = try store.subscriptions(customerKey: bill.customerKey, catalog: assembler.biller.catalog)
        let subscriptions = records.map(\.subscription)
        let customer = try customers[bill.customerKey] ?? store.customer(key: bill.customerKey)
        let currency = customer?.currency ?? subscriptions.last?.plan.currency ?? .usd
        var billed: [ChargeKey: Decimal] = [:]
        var latePeriods: [(String, Period)] = []
        for subscription in subscriptions {
            let charges = (late[subscription.id] ?? []).flatMap {
                assembler.biller.chargeKeys(subscription: subscription, meterSlug: $0.meterSlug, windowStart: $0.windowStart)
            }
            for charge in charges where charge.period.end < bill.billDate && billed[charge.key] == nil {
                billed[charge.key] = try store.billedCharge(charge.key)
                latePeriods.append((subscription.id, charge.period))
            }
        }
        let credits = try store.openCredits(customerKey: bill.customerKey).filter { $0.credit.originBillDate < bill.billDate }
        let adjustments = try store.openAdjustments(customerKey: bill.customerKey, before: bill.billDate)
        let request = InvoiceRequest(customerKey: bill.customerKey, currency: currency, billDate: bill.billDate,
                                     subscriptions: subscriptions, billedCharges: billed,
                                     carriedCredits: credits.map(\.credit), adjustments: adjustments.map(\.line))
        return Draft(invoice: assembler.draft(request), creditIds: credits.map(\.id), adjustmentIds: adjustments.map(\.id),
                     latePeriods: latePeriods)
    }

    // MARK: tax

    func tax(now: Instant) throws -> StageSummary {
        var taxed = 0, failed = 0
        var errors: [String] = []
        let invoices = try store.invoices(status: .rated)
        let customers = try customersByKey()
        for start in stride(from: 0, to: invoices.count, by: BillRun.commitGroup) {
            try store.transaction {
                for invoice in invoices[start..<min(invoices.count, start + BillRun.commitGroup)] {
                    guard let customer = customers[invoice.customerKey] else { continue }
                    do {
                        let decision = try taxDecision(for: customer)
                        let draft = InvoiceTax.apply(decision, to: DraftInvoice(customerKey: invoice.customerKey, currency: invoice.currency,
                                                                                billDate: invoice.billDate, lines: invoice.lines.map(\.line)))
                        let lines = zip(invoice.lines, draft.lines).map { StoredLine(id: $0.id, line: $1) }
                        try store.updateTax(invoiceId: invoice.id, lines: lines, note: decision.invoiceNote, status: .taxed, at: now)
                        taxed += 1
                    } catch let error as TaxError {
                        failed += 1
                        errors.append("\(invoice.id): \(error.message)")
                        try store.setInvoiceStatus(invoice.id, .failed, failure: .init(stage: Stage.tax.rawValue, message: error.message), at: now)
                        logger.error("tax failed", metadata: ["invoice.id": "\(invoice.id)", "error": "\(error.message)"])
                    }
                }
            }
        }
        return StageSummary(stage: .tax, counts: [("taxed", taxed), ("failed", failed)], errors: errors,
                            message: "taxed \(taxed) invoices" + (failed > 0 ? ", failed \(failed)" : ""))
    }

    func taxDecision(for customer: Customer) throws -> TaxDecision {
        switch settings.tax.provider {
        case .none:
            return .noRateMatched(country: customer.billingAddress.country, state: customer.billingAddress.state)
        case .rates:
            return try TaxDecision.decide(customerKey: customer.key, exemption: customer.taxExempt,
                                          country: customer.billingAddress.country, state: customer.billingAddress.state,
                                          table: settings.tax.rates, enforced: settings.tax.enforced)
        case .stripe:
            if settings.tax.enforced {
                throw TaxError.noRateMatched("tax.provider is stripe but Stripe is not connected, and tax is enforced: run `tollbooth stripe connect`")
            }
            return .noRateMatched(country: customer.billingAddress.country, state: customer.billingAddress.state)
        }
    }

    // MARK: issue, collect, reconcile

    func issue(now: Instant) throws -> StageSummary {
        var notRequired = 0
        var ready = 0
        for invoice in try store.invoices(status: .taxed, withLines: false) {
            if invoice.total == 0 {
                try store.setInvoiceStatus(invoice.id, .notRequired, at: now)
                notRequired += 1
            } else {
                ready += 1
            }
        }
        let message = stripeConfigured
            ? "\(ready) invoices ready to issue"
            : "Stripe not configured; \(ready) invoices ready" + (notRequired > 0 ? ", \(notRequired) not required (zero total)" : "")
        return StageSummary(stage: .issue, counts: [("ready", ready), ("not_required", notRequired), ("issued", 0), ("failed", 0)],
                            errors: [], message: message)
    }

    func waitForStripe(_ stage: Stage) -> StageSummary {
        StageSummary(stage: stage, counts: [], errors: [], message: "Stripe not configured; nothing to \(stage.rawValue)")
    }

    // MARK: dry run and preview

    /// What a run would close and rate, writing nothing.
    func previewRun(asOf: Instant) throws -> StageSummary {
        let horizon = closeHorizon(asOf)
        let lastClosed = try store.lastClosedBillDates()
        // (customer, bill date) of every bill that is pending or would close.
        var dates: Set<PendingBill> = Set(try store.pendingBills().filter { $0.billDate <= horizon }.map {
            PendingBill(customerKey: $0.customerKey, billDate: $0.billDate, subscriptionIds: [])
        })
        for record in try store.subscriptions() {
            for date in record.subscription.billDates(after: lastClosed[record.id], through: horizon) {
                dates.insert(PendingBill(customerKey: record.subscription.customerKey, billDate: date, subscriptionIds: []))
            }
        }
        let late = try lateWindowsBySubscription()
        let assembler = InvoiceAssembler(catalog: try store.catalog(), usage: store.usage)
        var lines: [String] = []
        for bill in dates.sorted(by: { ($0.customerKey, $0.billDate) < ($1.customerKey, $1.billDate) }) {
            let draft = try self.draft(bill, assembler: assembler, late: late).invoice
            guard !draft.lines.isEmpty else { continue }
            lines.append("\(bill.customerKey) \(bill.billDate): \(draft.lines.count) lines, subtotal \(Money(draft.subtotal, draft.currency))")
        }
        return StageSummary(stage: .rate, counts: [("would_rate", lines.count)], errors: [],
                            message: (["dry run: \(lines.count) invoices would be rated"] + lines).joined(separator: "\n"))
    }

    /// The customer's next invoice after `at`, computed and never stored.
    public func preview(customerKey: String, at: Instant) throws -> DraftInvoice? {
        let subscriptions = try store.subscriptions(customerKey: customerKey).map(\.subscription)
        let next = subscriptions.compactMap { $0.billDates(after: at, through: Instant(seconds: at.seconds + 400 * 86_400)).first }.min()
        guard let billDate = next else { return nil }
        let assembler = InvoiceAssembler(catalog: try store.catalog(), usage: store.usage)
        let draft = try self.draft(PendingBill(customerKey: customerKey, billDate: billDate, subscriptionIds: []), assembler: assembler,
                                   late: try lateWindowsBySubscription()).invoice
        guard let customer = try store.customer(key: customerKey) else { return draft }
        return InvoiceTax.apply((try? taxDecision(for: customer)) ?? .noRateMatched(country: nil, state: nil), to: draft)
    }
}

extension Instant {
    /// This instant moved by whole calendar months (clamped to the month's last day).
    func adding(months: Int) -> Instant {
        months == 0 ? self : ISODuration(months: months).adding(times: 1, to: self)
    }
}
