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
    /// Runs the ledger still showed `running` (killed before they finished), now `abandoned`.
    public var abandonedRuns = 0
    public var stages: [StageSummary] = []
    /// Invoices a stage failed: the run exits 1.
    public var failedInvoices: Int { stages.reduce(0) { $0 + ($1.counts.first { $0.0 == "failed" }?.1 ?? 0) } }
}

/// The staged bill run: close, rate, tax, issue, collect, reconcile. Each stage is idempotent
/// and resumable: it works only on what the ledger says is not done yet, and writes each unit
/// of work (a close, an invoice) in its own transaction, so a run killed at any point and run
/// again ends with the same invoices, never a duplicate.
public final class BillRun {
    let store: any Store
    let settings: Settings
    /// The Stripe account to issue to; until one is set up the issue, collect and reconcile
    /// stages wait.
    let stripe: StripeConnection?
    let failpoints: Failpoints
    let logger: Logger
    let progress: (String) -> Void
    /// Customers' currencies (nil: none set), read once per stage rather than once per bill.
    var currencies: [String: Currency?] = [:]
    /// This run's part when several workers share it (`run --worker`): the rate, tax, issue
    /// and collect stages are split between them by customer, and reconcile runs in one.
    public var share: WorkerShare?

    public init(store: any Store, settings: Settings = Settings(), stripe: StripeConnection? = nil, failpoints: Failpoints = Failpoints(),
                logger: Logger = Logger(label: "tollbooth.run"), progress: @escaping (String) -> Void = { _ in }) {
        self.store = store
        self.settings = settings
        self.stripe = stripe
        self.failpoints = failpoints
        self.logger = logger
        self.progress = progress
    }

    /// Runs `stages` (all by default) as of `asOf`; `now` is the clock time recorded in the ledger.
    public func run(asOf: Instant, stages: [Stage] = Stage.allCases, dryRun: Bool = false, now: Instant) throws -> RunSummary {
        // A typo in the year would otherwise close and bill every period up to it.
        guard asOf <= now else { throw BillRunError.asOfInFuture(asOf: asOf, now: now) }
        if dryRun {
            return RunSummary(stages: [try previewRun(asOf: asOf), try previewIssue()])
        }
        return try ledgered(asOf: asOf, now: now, stages: Stage.allCases.filter(stages.contains).map { stage in
            (stage, { runId in
                switch stage {
                case .close: return try self.close(asOf: asOf, run: runId)
                case .rate: return try self.rate(asOf: asOf, run: runId, now: now)
                case .tax: return try self.tax(now: now)
                case .issue: return try self.issue(now: now)
                case .collect: return try self.collect(now: now)
                case .reconcile: return try self.reconcile(asOf: asOf, run: runId, now: now)
                }
            })
        })
    }

    /// Records a run in the job ledger and each stage in it as it is done (given the run's id);
    /// the run succeeds when no stage failed an invoice.
    func ledgered(asOf: Instant, now: Instant, stages: [(Stage, (Int64) throws -> StageSummary)]) throws -> RunSummary {
        var summary = RunSummary()
        // A worker's fellow workers' runs are running too: only a plain run marks them abandoned.
        let runId = if let share {
            try share.sharing.startWorkerRun(asOf: asOf, owner: share.owner, at: now, leasesAt: WorkerShare.now(), abandoned: &summary.abandonedRuns)
        } else {
            try store.startRun(asOf: asOf, dryRun: false, at: now, abandoned: &summary.abandonedRuns)
        }
        summary.runId = runId
        if summary.abandonedRuns > 0 {
            logger.warning("runs left running by a process that died are marked abandoned; their work resumes in this run",
                           metadata: ["runs": "\(summary.abandonedRuns)"])
        }
        var succeeded = false
        defer { try? store.finishRun(runId, succeeded: succeeded, at: now) }
        for (stage, work) in stages {
            try store.refreshStatistics()
            try store.startStage(stage, run: runId, at: now)
            failpoints.hit("run.\(stage.rawValue)")
            let result = try work(runId)
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

    /// Bills (and invoices taxed) per transaction: a group's reads are a few queries, and a page
    /// its bills share (an index's, a table's last) goes to the write-ahead log once per group.
    static let commitGroup = 2000

    // MARK: close

    /// One write transaction reads the subscriptions and writes the closes: a change or
    /// cancellation committed by another command lands wholly before the close (which then
    /// closes by it) or wholly after (which then refuses to take effect in a closed period).
    func close(asOf: Instant, run: Int64) throws -> StageSummary {
        let horizon = closeHorizon(asOf)
        var closed = 0, lateBills = 0
        try store.transaction {
            let records = try store.subscriptions()
            let lastClosed = try store.lastClosedBillDates()
            var closes: [(subscriptionId: String, customerKey: String, billDate: Instant)] = []
            for record in records {
                let subscription = record.subscription
                for date in subscription.billDates(after: lastClosed[subscription.id], through: horizon) {
                    closes.append((subscription.id, subscription.customerKey, date))
                }
            }
            closed = try store.close(closes, run: run)
            lateBills = try scheduleLateBills(records: records, asOf: asOf, horizon: horizon, run: run)
            // The usage counters of servers sharing the database (PostgreSQL) for periods now
            // closed are asked about no more.
            try (store as? any SharedUsageCounters)?.forgetCounters(endedBefore: horizon)
        }
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
        let assembler = InvoiceAssembler(catalog: catalog, usage: store)
        let bills = try store.pendingBills().filter { $0.billDate <= horizon }
        let late = try lateWindowsBySubscription()
        currencies = try store.customerCurrencies()
        var counts = (rated: 0, empty: 0)
        if let share {
            // Each claimed batch's bills are read again inside its transaction: what the batch
            // holds now, whichever worker came before.
            try share.share(.rate, customers: BillRun.customers(of: bills.map(\.customerKey))) { claimed in
                try share.sharing.workerTransaction {
                    let bills = try store.pendingBills(customerKeys: claimed).filter { $0.billDate <= horizon }
                    // A customer once per group, so every bill is drafted from its group's reads.
                    for group in BillRun.onePerCustomer(bills) {
                        try rateGroup(group, catalog: catalog, assembler: assembler, late: late, horizon: horizon, run: run, now: now, counts: &counts)
                    }
                }
                progress("rate: \(counts.rated + counts.empty) bill dates in this worker")
            }
        } else {
            // Bills commit in groups: each bill's writes stay atomic (a group commits whole or
            // not at all), and a commit per group rather than per bill keeps the write-ahead log short.
            for start in stride(from: 0, to: bills.count, by: BillRun.commitGroup) {
                try store.transaction {
                    try rateGroup(bills[start..<min(bills.count, start + BillRun.commitGroup)], catalog: catalog, assembler: assembler,
                                  late: late, horizon: horizon, run: run, now: now, counts: &counts)
                }
                progress("rate: \(counts.rated + counts.empty) of \(bills.count) bill dates")
            }
        }
        let (rated, empty) = counts
        return StageSummary(stage: .rate, counts: [("rated", rated), ("without_lines", empty)], errors: [],
                            message: "rated \(rated) invoices" + (empty > 0 ? " (\(empty) bill dates had nothing to bill)" : ""))
    }

    /// Bills in bill date order cut into runs in which no customer comes twice.
    static func onePerCustomer(_ bills: [PendingBill]) -> [ArraySlice<PendingBill>] {
        var groups: [ArraySlice<PendingBill>] = []
        var start = 0
        var seen: Set<String> = []
        for (index, bill) in bills.enumerated() where !seen.insert(bill.customerKey).inserted {
            groups.append(bills[start..<index])
            start = index
            seen = [bill.customerKey]
        }
        groups.append(bills[start...])
        return groups
    }

    /// Each customer once, in first-seen order.
    static func customers(of keys: [String]) -> [String] {
        var seen: Set<String> = []
        return keys.filter { seen.insert($0).inserted }
    }

    /// Rates a group of bills inside the caller's write transaction.
    func rateGroup(_ group: ArraySlice<PendingBill>, catalog: Catalog, assembler: InvoiceAssembler,
                   late: [String: [(meterSlug: String, windowStart: Instant)]], horizon: Instant, run: Int64, now: Instant,
                   counts: inout (rated: Int, empty: Int)) throws {
        guard !group.isEmpty else { return }
        // The group's subscriptions, open items and usage of the periods ending at its bill
        // dates, in a few queries, inside the transaction that writes its invoices.
        let customerKeys = BillRun.customers(of: group.map(\.customerKey))
        let dates = group.map(\.billDate)
        let reads = try store.ratingReads(customerKeys: customerKeys, catalog: catalog,
                                          usageFrom: (dates.min() ?? horizon).adding(months: -1), usageTo: dates.max() ?? horizon)
        let groupAssembler = InvoiceAssembler(catalog: catalog, usage: reads.usage)
        // Drafted bills are written together; a customer's second bill in the group is
        // drafted from the store, once the first one's writes are in.
        var drafted: Set<String> = []
        var unwritten: [(bill: PendingBill, draft: Draft)] = []
        for bill in group {
            let first = drafted.insert(bill.customerKey).inserted
            if !first {
                try write(unwritten, run: run, now: now)
                unwritten = []
            }
            let draft = try self.draft(bill, assembler: first ? groupAssembler : assembler, reads: first ? reads : nil, late: late)
            if draft.invoice.lines.isEmpty { counts.empty += 1 } else { counts.rated += 1 }
            unwritten.append((bill, draft))
        }
        try write(unwritten, run: run, now: now)
    }

    /// Writes drafted bills: each invoice and its lines (a bill date with no lines makes none),
    /// credits consumed and left over, adjustments and voided lines attached, late usage marked
    /// billed, the close marked rated.
    func write(_ drafted: [(bill: PendingBill, draft: Draft)], run: Int64, now: Instant) throws {
        try store.insertInvoices(drafted.map(\.draft.invoice).filter { !$0.lines.isEmpty }, runId: run, at: now)
        var rated: [(bill: PendingBill, invoiceId: String?)] = []
        for (bill, draft) in drafted {
            let invoice = draft.invoice
            let invoiceId = invoice.lines.isEmpty ? nil : StoredInvoice.makeId(customerKey: invoice.customerKey, billDate: invoice.billDate)
            try store.replaceCredits(customerKey: bill.customerKey, consumed: draft.creditIds, billDate: bill.billDate,
                                     leftOver: invoice.carriedCredits)
            if let invoiceId {
                try store.attachAdjustments(draft.adjustmentIds, invoiceId: invoiceId)
                try store.attachRebills(draft.rebilledLineIds, invoiceId: invoiceId)
            }
            for late in draft.latePeriods { try store.markLateBilled(subscriptionId: late.subscriptionId, period: late.period) }
            rated.append((bill, invoiceId))
        }
        try store.markRated(rated, run: run)
    }

    struct Draft {
        var invoice: DraftInvoice
        var creditIds: [Int64]
        var adjustmentIds: [String]
        /// Lines of voided invoices billed again on this one.
        var rebilledLineIds: [String]
        var latePeriods: [(subscriptionId: String, period: Period)]
    }

    func lateWindowsBySubscription() throws -> [String: [(meterSlug: String, windowStart: Instant)]] {
        var result: [String: [(meterSlug: String, windowStart: Instant)]] = [:]
        for window in try store.lateWindows() { result[window.subscriptionId, default: []].append((window.meterSlug, window.windowStart)) }
        return result
    }

    /// The draft invoice of a customer's bill date, with what it takes from the store (or from
    /// `reads`, its group's reads, when given).
    func draft(_ bill: PendingBill, assembler: InvoiceAssembler, reads: RatingReads? = nil,
               late: [String: [(meterSlug: String, windowStart: Instant)]]) throws -> Draft {
        let records = try reads.map { $0.subscriptions[bill.customerKey] ?? [] }
            ?? store.subscriptions(customerKey: bill.customerKey, catalog: assembler.biller.catalog)
        let subscriptions = records.map(\.subscription)
        let customerCurrency = try currencies[bill.customerKey] ?? store.customer(key: bill.customerKey)?.currency
        let currency = customerCurrency ?? subscriptions.last?.plan.currency ?? .usd
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
        let open = reads?.customersWithOpenItems.contains(bill.customerKey) ?? true
        let credits = open ? try store.openCredits(customerKey: bill.customerKey).filter { $0.credit.originBillDate < bill.billDate } : []
        let adjustments = open ? try store.openAdjustments(customerKey: bill.customerKey, before: bill.billDate) : []
        let rebills = open ? try store.openRebills(customerKey: bill.customerKey, before: bill.billDate) : []
        let request = InvoiceRequest(customerKey: bill.customerKey, currency: currency, billDate: bill.billDate,
                                     subscriptions: subscriptions, billedCharges: billed,
                                     carriedCredits: credits.map(\.credit), adjustments: rebills.map(\.line) + adjustments.map(\.line))
        return Draft(invoice: try assembler.draft(request), creditIds: credits.map(\.id), adjustmentIds: adjustments.map(\.id),
                     rebilledLineIds: rebills.map(\.id), latePeriods: latePeriods)
    }

    // MARK: tax

    func tax(now: Instant, only: Set<String>? = nil) throws -> StageSummary {
        var counts = (taxed: 0, failed: 0, errors: [String]())
        let customers = try customersByKey()
        if let share {
            let byCustomer = try invoiceIdsByCustomer(status: .rated)
            try share.share(.tax, customers: byCustomer.keys.sorted()) { claimed in
                try taxGroup(claimed.flatMap { byCustomer[$0] ?? [] }, customers: customers, now: now, counts: &counts)
            }
        } else {
            let ids = try store.invoiceTotals(status: .rated).map(\.id).filter { only?.contains($0) ?? true }
            for start in stride(from: 0, to: ids.count, by: BillRun.commitGroup) {
                try taxGroup(Array(ids[start..<min(ids.count, start + BillRun.commitGroup)]), customers: customers, now: now, counts: &counts)
            }
        }
        let (taxed, failed, errors) = counts
        return StageSummary(stage: .tax, counts: [("taxed", taxed), ("failed", failed)], errors: errors,
                            message: "taxed \(taxed) invoices" + (failed > 0 ? ", failed \(failed)" : ""))
    }

    /// The ids of the invoices in `status`, by customer.
    func invoiceIdsByCustomer(status: InvoiceStatus) throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for invoice in try store.invoices(status: status, withLines: false) { result[invoice.customerKey, default: []].append(invoice.id) }
        return result
    }

    /// Taxes the invoices of `ids` that are still rated. They are read and their taxes worked
    /// out before the write transaction opens, so no call to a tax provider holds the
    /// database's write lock, and only a group is in memory at a time.
    func taxGroup(_ ids: [String], customers: [String: Customer], now: Instant, counts: inout (taxed: Int, failed: Int, errors: [String])) throws {
        let invoices = try store.readTransaction { try store.invoices(ids: ids) }.filter { $0.status == .rated }
        guard !invoices.isEmpty else { return }
        let group = invoices.compactMap { invoice in
            customers[invoice.customerKey].map { customer in (invoice, Result { try lineTaxes(invoice, customer: customer) }) }
        }
        var taxed = 0, failed = 0, errors: [String] = []
        let write = { [self] in
            taxed = 0
            failed = 0
            errors = []
            var updates: [TaxUpdate] = []
            for (invoice, outcome) in group {
                switch outcome {
                case .success(let tax):
                    let lines = zip(invoice.lines, tax.draft.lines).map { StoredLine(id: $0.id, line: $1) }
                    let unchanged = Set(zip(invoice.lines, tax.draft.lines).filter { $0.line.taxAmount == $1.taxAmount }.map(\.0.id))
                    updates.append(TaxUpdate(invoiceId: invoice.id, lines: lines, unchanged: unchanged, note: tax.note, applied: tax.applied,
                                             calculationId: tax.calculationId))
                    taxed += 1
                case .failure(let error as TaxError):
                    failed += 1
                    errors.append("\(invoice.id): \(error.message)")
                    try store.setInvoiceStatus(invoice.id, .failed, failure: .init(stage: Stage.tax.rawValue, message: error.message), at: now)
                    logger.error("tax failed", metadata: ["invoice.id": "\(invoice.id)", "error": "\(error.message)"])
                case .failure(let error):
                    throw error
                }
            }
            try store.updateTax(updates, status: .taxed, at: now)
        }
        if let share { try share.sharing.workerTransaction(write) } else { try store.transaction(write) }
        counts.taxed += taxed
        counts.failed += failed
        counts.errors += errors
    }

    /// An invoice's lines with their tax, the note it must carry, the rate applied and the
    /// Stripe Tax Calculation it came from.
    struct LineTaxes {
        var draft: DraftInvoice
        var note: String?
        var applied: AppliedTax?
        var calculationId: String?
    }

    /// Tax from the configured provider. Stripe Tax failing is a `TaxError` when tax is
    /// enforced; otherwise the invoice goes out without tax, and the log says why.
    func lineTaxes(_ invoice: StoredInvoice, customer: Customer) throws -> LineTaxes {
        let draft = DraftInvoice(customerKey: invoice.customerKey, currency: invoice.currency, billDate: invoice.billDate,
                                 lines: invoice.lines.map(\.line))
        if settings.tax.provider == .stripe, let stripe {
            do {
                let result = try StripeTax(stripe: stripe.client).calculate(invoice, customer: customer, generation: invoice.issuing.generation)
                return LineTaxes(draft: InvoiceTax.apply(taxes: result.taxes, to: draft),
                                 note: customer.taxExempt == .reverse ? TaxDecision.reverseChargeNote : nil,
                                 applied: result.applied, calculationId: result.calculationId)
            } catch {
                let reason = (error as? StripeMappingError)?.description ?? "\(error)"
                if settings.tax.enforced {
                    throw TaxError.noRateMatched("Stripe Tax could not calculate the tax of \(invoice.id), and tax is enforced: \(reason)")
                }
                logger.warning("Stripe Tax failed; issued without tax", metadata: ["invoice.id": "\(invoice.id)", "error": "\(reason)"])
                return LineTaxes(draft: InvoiceTax.apply(taxes: draft.lines.map { _ in 0 }, to: draft), note: nil, applied: nil, calculationId: nil)
            }
        }
        let decision = try taxDecision(for: customer)
        return LineTaxes(draft: InvoiceTax.apply(decision, to: draft), note: decision.invoiceNote,
                         applied: decision.rate.map(AppliedTax.init), calculationId: nil)
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
            // Reached only without a Stripe connection (lineTaxes asks Stripe Tax when there is one).
            if settings.tax.enforced {
                throw TaxError.noRateMatched("tax.provider is stripe but Stripe is not connected, and tax is enforced: run `tollbooth stripe connect`")
            }
            return .noRateMatched(country: customer.billingAddress.country, state: customer.billingAddress.state)
        }
    }

    // MARK: issue, collect, reconcile

    /// Zero totals become `not_required`; the rest are issued to Stripe, `stripe.concurrency`
    /// customers at a time (a customer's invoices one after another, in bill date order), each
    /// failure recorded on its invoice without stopping the others. A key Stripe refuses, or one
    /// lacking a permission, stops the stage: the invoices not reached stay `taxed` (skipped).
    func issue(now: Instant, only: Set<String>? = nil) throws -> StageSummary {
        var notRequired = 0
        var ready: [(id: String, billDate: Instant, total: Decimal)] = []
        var zero: [String] = []
        let selected = { (id: String) in only?.contains(id) ?? true }
        for invoice in try store.invoiceTotals(status: .taxed) where selected(invoice.id) {
            if invoice.total == 0 { zero.append(invoice.id) } else { ready.append(invoice) }
        }
        ready += try store.invoiceTotals(status: .issuing).filter { selected($0.id) }
        guard let stripe else {
            for id in zero { try store.setInvoiceStatus(id, .notRequired, at: now) }
            notRequired = zero.count
            let message = "Stripe not configured; \(ready.count) invoices ready" + (notRequired > 0 ? ", \(notRequired) not required (zero total)" : "")
            return StageSummary(stage: .issue, counts: [("ready", ready.count), ("not_required", notRequired), ("issued", 0), ("failed", 0)],
                                errors: [], message: message)
        }
        let customers = try customersByKey()
        var owners: [String: String] = [:]
        for status in [InvoiceStatus.taxed, .issuing] {
            for invoice in try store.invoices(status: status, withLines: false) { owners[invoice.id] = invoice.customerKey }
        }
        let ordered = ready.sorted(by: { ($0.billDate, $0.id) < ($1.billDate, $1.id) })
        let tally = IssueTally()
        if let share {
            // Zero totals and queues by customer, each claimed batch's in turn.
            var zeroOf: [String: [String]] = [:], readyOf: [String: [(id: String, billDate: Instant, total: Decimal)]] = [:]
            for id in zero { zeroOf[owners[id] ?? id, default: []].append(id) }
            for invoice in ordered { readyOf[owners[invoice.id] ?? invoice.id, default: []].append(invoice) }
            try share.share(.issue, customers: Set(zeroOf.keys).union(readyOf.keys).sorted()) { claimed in
                for id in claimed.flatMap({ zeroOf[$0] ?? [] }) where try store.invoice(id: id)?.status == .taxed {
                    try store.setInvoiceStatus(id, .notRequired, at: now)
                    notRequired += 1
                }
                try issueQueues(claimed.flatMap { readyOf[$0] ?? [] }, owners: owners, stripe: stripe, customers: customers, tally: tally,
                                of: ordered.count, now: now)
            }
        } else {
            for id in zero { try store.setInvoiceStatus(id, .notRequired, at: now) }
            notRequired = zero.count
            try issueQueues(ordered, owners: owners, stripe: stripe, customers: customers, tally: tally, of: ordered.count, now: now)
        }
        let (issued, failed, skipped, errorsFound, stop) = tally.result(inOrder: ordered.map(\.id))
        var errors = errorsFound
        var message = "issued \(issued), not required \(notRequired), failed \(failed), skipped \(skipped)"
        if let stop { message += "; stopped: \(stop)" }
        // Recorded by one worker at a time; another that finds it busy leaves it to that one.
        let recording = try share.map { try $0.sharing.stepLock("tax-transactions", holder: $0.owner) }
        if share == nil || recording != nil {
            let (recorded, unrecorded) = try StripeTax(stripe: stripe.client).recordPendingTransactions(store: store, logger: logger)
            if recorded > 0 { message += "; \(recorded) tax transactions recorded" }
            if !unrecorded.isEmpty {
                message += "; \(unrecorded.count) tax transactions not recorded (next run tries again)"
                errors += unrecorded
            }
        }
        withExtendedLifetime(recording) {}
        return StageSummary(stage: .issue, counts: [("issued", issued), ("not_required", notRequired), ("failed", failed), ("skipped", skipped)],
                            errors: errors, message: message)
    }

    /// Issues invoices to Stripe, `stripe.concurrency` customers at a time (a customer's
    /// invoices one after another, in the order given), each failure recorded on its invoice
    /// without stopping the others. An invoice no longer taxed or issuing (another worker got
    /// to it) is passed over.
    /// `total` is the stage's count of invoices, for the progress lines.
    func issueQueues(_ ordered: [(id: String, billDate: Instant, total: Decimal)], owners: [String: String], stripe: StripeConnection,
                     customers: [String: Customer], tally: IssueTally, of total: Int, now: Instant) throws {
        // One queue per customer, in the order of each customer's first invoice.
        var queues: [[String]] = []
        var queueOf: [String: Int] = [:]
        for summary in ordered {
            let owner = owners[summary.id] ?? summary.id
            if let index = queueOf[owner] { queues[index].append(summary.id) } else {
                queueOf[owner] = queues.count
                queues.append([summary.id])
            }
        }
        let work = { (store: any Store, queue: [String]) throws in
            let issuer = Issuer(store: store, stripe: stripe.client, account: stripe.account, failpoints: self.failpoints, now: now,
                                linesPerRequest: self.settings.stripe.linesPerRequest)
            for id in queue {
                guard !tally.stopped else { tally.skip(); continue }
                guard let invoice = try store.invoice(id: id), invoice.status == .taxed || invoice.status == .issuing else { continue }
                let failure: IssueFailure?
                if let customer = customers[invoice.customerKey] {
                    let tax = invoice.appliedTax ?? (try? self.taxDecision(for: customer))?.rate.map(AppliedTax.init)
                    failure = try issuer.issue(invoice, customer: customer, tax: tax)
                } else {
                    failure = .refused("customer \(invoice.customerKey) of invoice \(invoice.id) no longer exists")
                }
                if let failure {
                    let recorded = failure.failure
                    try store.setInvoiceStatus(invoice.id, .failed, failure: recorded, at: now)
                    self.logger.error("issue failed: \(recorded.message)", metadata: [
                        "invoice.id": "\(invoice.id)", "stripe.request_id": "\(recorded.stripeRequestId ?? "")"])
                    tally.fail(invoice.id, recorded.message, stops: failure.stopsTheStage)
                } else {
                    self.logger.info("issued", metadata: ["invoice.id": "\(invoice.id)"])
                    tally.issue()
                }
                if let done = tally.hundredth { self.progress("issue: \(done) of \(total) invoices") }
            }
        }
        try IssueWorkers.run(queues, concurrency: settings.stripe.concurrency, store: store, work)
    }

    /// Payment state of issued invoices, read back from Stripe. A read that fails leaves the
    /// invoice as it was, for the next run.
    func collect(now: Instant, only: Set<String>? = nil) throws -> StageSummary {
        guard let stripe else { return waitForStripe(.collect) }
        // What the webhooks delivered first (events the server could not apply yet), then
        // Stripe's invoices for what a lost webhook missed.
        let production = settings.environment == .production
        // Applied by one worker at a time; another that finds it busy leaves it to that one.
        let applying = try share.map { try $0.sharing.stepLock("inbox", holder: $0.owner) }
        if share == nil || applying != nil {
            _ = try StripeInbox(store: store, connection: stripe, now: now, makeAPIKey: { Credentials.newAPIKey(production: production) })
                .applyWaiting()
        }
        withExtendedLifetime(applying) {}
        let invoices = try store.collectableInvoices().filter { only?.contains($0.id) ?? true }
        let collector = Collector(store: store, stripe: stripe.client, now: now)
        var counts = Collector.Counts()
        if let share {
            let byCustomer = Dictionary(grouping: invoices, by: \.customerKey)
            try share.share(.collect, customers: byCustomer.keys.sorted()) { claimed in
                counts.add(try collector.collect(claimed.flatMap { byCustomer[$0] ?? [] }))
            }
        } else {
            counts = try collector.collect(invoices)
        }
        var message = "paid \(counts.paid), payment failed \(counts.paymentFailed), uncollectible \(counts.uncollectible), void \(counts.void), awaiting payment \(counts.open)"
        if !counts.errors.isEmpty { message += "; \(counts.errors.count) could not be read from Stripe (next run reads them again)" }
        return StageSummary(stage: .collect, counts: [("paid", counts.paid), ("payment_failed", counts.paymentFailed),
                                                      ("uncollectible", counts.uncollectible), ("void", counts.void),
                                                      ("awaiting_payment", counts.open), ("unread", counts.errors.count)],
                            errors: counts.errors, message: message)
    }

    /// The bill dates the reconcile stage of a run compares: the calendar month before as-of's
    /// and as-of's own month up to as-of, so the nightly run keeps the closing month compared
    /// until the next one is under way, and the period-end run finds last month's whole.
    public static func reconcileRange(asOf: Instant) -> (from: Instant, to: Instant) {
        let c = asOf.civil
        let monthStart = Instant(year: c.year, month: c.month, day: 1)
        return (monthStart.adding(months: -1), asOf + 1)
    }

    /// Compares the invoices of `reconcileRange` with Stripe and records each difference.
    func reconcile(asOf: Instant, run: Int64?, now: Instant) throws -> StageSummary {
        guard let stripe else { return waitForStripe(.reconcile) }
        // Once for the workers of a shared run: the first to get here reconciles, under a lock;
        // one that comes within the hour after finds it done.
        let once = try share.map { try $0.sharing.stepLock("reconcile", holder: $0.owner) }
        if let share {
            let now = WorkerShare.now()
            guard once != nil, try share.sharing.takeStep("reconcile", now: now, until: now + 3_600) else {
                return StageSummary(stage: .reconcile, counts: [], errors: [], message: "another worker of this run reconciles")
            }
        }
        defer { withExtendedLifetime(once) {} }
        let range = BillRun.reconcileRange(asOf: asOf)
        let outcome = try Reconciler(store: store, stripe: stripe.client, account: stripe.account, now: now)
            .reconcile(from: range.from, to: range.to, runId: run)
        let unexplained = outcome.differences.filter(\.kind.isUnexplained)
        var byKind: [String] = []
        for kind in ReconciliationDifference.Kind.allCases where kind.isUnexplained {
            let count = unexplained.filter { $0.kind == kind }.count
            if count > 0 { byKind.append("\(count) \(kind.rawValue.replacingOccurrences(of: "_", with: " "))") }
        }
        var message = "compared \(outcome.compared) invoices billed \(range.from.rfc3339) to \(range.to.rfc3339): \(unexplained.count) differences"
        if !byKind.isEmpty { message += " (" + byKind.joined(separator: ", ") + ")" }
        let explained = outcome.differences.count - unexplained.count
        if explained > 0 { message += "; \(explained) balances Stripe carried" }
        if !outcome.unread.isEmpty { message += "; \(outcome.unread.count) could not be read from Stripe (next run compares them)" }
        for difference in unexplained {
            logger.warning("reconcile: \(difference.detail)", metadata: ["invoice.id": "\(difference.invoiceId ?? "")",
                                                                         "stripe.invoice_id": "\(difference.stripeInvoiceId ?? "")"])
        }
        return StageSummary(stage: .reconcile, counts: [("compared", outcome.compared), ("differences", unexplained.count),
                                                        ("carried_balances", explained), ("unread", outcome.unread.count)],
                            errors: outcome.unread + unexplained.map(\.detail), message: message)
    }

    func waitForStripe(_ stage: Stage) -> StageSummary {
        StageSummary(stage: stage, counts: [], errors: [], message: "Stripe not configured; nothing to \(stage.rawValue)")
    }

    // MARK: rerun

    /// Resumes failed invoices from the stage that stopped them (`tollbooth rerun`): tax, then
    /// issue, then collect, for these invoices only, recorded in the ledger as a run.
    public func rerun(invoiceIds: [String], now: Instant) throws -> RunSummary {
        var resumed: Set<String> = []
        var fromTax = false
        for id in invoiceIds {
            guard let stage = try store.resumeFailed(invoiceId: id, at: now) else { continue }
            resumed.insert(id)
            fromTax = fromTax || stage == Stage.tax.rawValue
        }
        guard !resumed.isEmpty else { return RunSummary() }
        let tax: [(Stage, (Int64) throws -> StageSummary)] = fromTax ? [(.tax, { _ in try self.tax(now: now, only: resumed) })] : []
        return try ledgered(asOf: now, now: now, stages: tax + [
            (.issue, { _ in try self.issue(now: now, only: resumed) }),
            (.collect, { _ in try self.collect(now: now, only: resumed) }),
        ])
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
        let assembler = InvoiceAssembler(catalog: try store.catalog(), usage: store)
        var lines: [String] = []
        for bill in dates.sorted(by: { ($0.customerKey, $0.billDate) < ($1.customerKey, $1.billDate) }) {
            let draft = try self.draft(bill, assembler: assembler, late: late).invoice
            guard !draft.lines.isEmpty else { continue }
            lines.append("\(bill.customerKey) \(bill.billDate): \(draft.lines.count) lines, subtotal \(Money(draft.subtotal, draft.currency))")
        }
        return StageSummary(stage: .rate, counts: [("would_rate", lines.count)], errors: [],
                            message: (["dry run: \(lines.count) invoices would be rated"] + lines).joined(separator: "\n"))
    }

    /// What the issue stage would send to Stripe for the invoices taxed so far, calling nothing.
    func previewIssue() throws -> StageSummary {
        let invoices = try store.invoices(status: .taxed) + store.invoices(status: .issuing)
        var lines: [String] = []
        var toIssue = 0, notRequired = 0
        for invoice in invoices.sorted(by: { ($0.billDate, $0.id) < ($1.billDate, $1.id) }) {
            guard invoice.total != 0 else {
                notRequired += 1
                lines.append("\(invoice.id): not required (zero total), no Stripe invoice")
                continue
            }
            toIssue += 1
            let known: StripeCustomerRecord? = try stripe.flatMap { try store.stripeCustomer(customerKey: invoice.customerKey, account: $0.account) }
            let customer: String
            switch known {
            case .created(let id, _)?: customer = "Stripe customer \(id)"
            case .requested?, nil: customer = "a Stripe customer for \(invoice.customerKey) (found or created)"
            }
            let pending = invoice.lines.filter { !$0.isOnStripe }.count
            let calls = (pending + settings.stripe.linesPerRequest - 1) / settings.stripe.linesPerRequest
            let sent = "\(calls) add_lines call" + (calls == 1 ? "" : "s")
            let items = pending == invoice.lines.count ? "\(pending) lines in \(sent)" : "\(pending) of \(invoice.lines.count) lines still to add in \(sent)"
            lines.append("\(invoice.id): \(invoice.stripeInvoiceId.map { "Stripe invoice \($0)" } ?? "a Stripe invoice") for \(customer), \(items), total \(Money(invoice.total, invoice.currency)), then finalize")
        }
        let head = stripe == nil ? "dry run: Stripe not configured; \(toIssue) invoices would be issued once it is"
                                 : "dry run: \(toIssue) invoices would be issued to Stripe account \(stripe!.account)"
        return StageSummary(stage: .issue, counts: [("would_issue", toIssue), ("not_required", notRequired)], errors: [],
                            message: ([head] + lines).joined(separator: "\n"))
    }

    /// The customer's next invoice after `at`, computed and never stored.
    public func preview(customerKey: String, at: Instant) throws -> DraftInvoice? {
        let subscriptions = try store.subscriptions(customerKey: customerKey).map(\.subscription)
        let next = subscriptions.compactMap { $0.billDates(after: at, through: Instant(seconds: at.seconds + 400 * 86_400)).first }.min()
        guard let billDate = next else { return nil }
        let assembler = InvoiceAssembler(catalog: try store.catalog(), usage: store)
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

extension AppliedTax {
    init(_ rate: TaxRate) {
        self.init(rate: rate.rate, name: rate.name, country: rate.country, state: rate.state)
    }
}

/// Why a bill run would not start.
public enum BillRunError: Error, CustomStringConvertible, Sendable {
    /// `--as-of` later than now: refused, so a typo cannot bill the future.
    case asOfInFuture(asOf: Instant, now: Instant)

    public var description: String {
        switch self {
        case .asOfInFuture(let asOf, let now):
            return "as-of is in the future (\(asOf.rfc3339), now is \(now.rfc3339)); pass --at to replay one"
        }
    }
}
