import Billing
import Foundation
import Store

/// What-if pricing (`tollbooth simulate`): every bill date in a range rated twice on the same
/// usage, with the live catalog and with a candidate, through the rate stage's own `draft` and
/// taxed as the tax stage taxes. It reads inside one read transaction and writes nothing, so it
/// may run beside `serve` and a bill run.
public struct Simulation {
    let store: any Store
    let settings: Settings
    let candidate: Catalog
    /// Live plan key -> candidate plan key, for plans renamed or merged in the candidate.
    let map: [String: String]

    /// `map` is checked against both catalogs: a key the live catalog or the candidate does not
    /// have is refused, naming it.
    public init(store: any Store, settings: Settings = Settings(), candidate: Catalog, map: [String: String] = [:]) throws {
        let live = try store.catalog()
        for (old, new) in map.sorted(by: { $0.key < $1.key }) {
            guard live.plan(key: old) != nil else {
                throw SimulationError.unknownLivePlan(old, known: Set(live.plans.map(\.key)).sorted())
            }
            guard candidate.plan(key: new) != nil else {
                throw SimulationError.unknownCandidatePlan(new, known: Set(candidate.plans.map(\.key)).sorted())
            }
        }
        self.store = store
        self.settings = settings
        self.candidate = candidate
        self.map = map
    }

    /// The candidate's counterpart of a live plan: the plan `--map` names (its latest version),
    /// else the plan with the same key and version, else that key's latest version; nil when
    /// the candidate has none, which is reported, never guessed.
    func counterpart(of plan: Plan) -> Plan? {
        if let mapped = map[plan.key] { return candidate.plan(key: mapped) }
        return candidate.plan(key: plan.key, version: plan.version) ?? candidate.plan(key: plan.key)
    }

    /// Rates the bill dates in `[from, to)` of every subscription, customer by customer (in key
    /// order), and hands each customer's comparison to `each` as soon as it is complete, so only
    /// a group of bills is held at a time.
    public func run(from: Instant, to: Instant, _ each: (CustomerComparison) throws -> Void) throws -> SimulationOutcome {
        guard from < to else { throw SimulationError.range(from: from, to: to) }
        var outcome = SimulationOutcome()
        try store.readTransaction {
            let live = try store.catalog()
            let billRun = BillRun(store: store, settings: settings)
            billRun.currencies = try store.customerCurrencies()
            let customers = billRun.currencies.keys.sorted()
            let recordedTax = settings.tax.provider == .stripe
            var current: CustomerComparison?
            var excluded: Set<String> = []
            // Customers in key order, `commitGroup` to a group read (the rate stage's, with open
            // items left out: a simulation rates what the catalog decides; see
            // `SimulationOutcome`): their subscriptions and the usage of periods ending in the range.
            for start in stride(from: 0, to: customers.count, by: BillRun.commitGroup) {
                let customerKeys = Array(customers[start..<min(customers.count, start + BillRun.commitGroup)])
                let reads = try store.ratingReads(customerKeys: customerKeys, catalog: live, usageFrom: from.adding(months: -1), usageTo: to)
                let group = Simulation.billDates(customerKeys, reads.subscriptions, from: from, to: to)
                outcome.bills += group.count
                let liveReads = RatingReads(subscriptions: reads.subscriptions, customersWithOpenItems: [], usage: reads.usage)
                var subscriptionPlans: [String: Plan] = [:]
                let candidateReads = RatingReads(subscriptions: reads.subscriptions.mapValues { records in
                    records.compactMap { record in
                        let subscription = record.subscription
                        subscriptionPlans[subscription.id] = subscription.plan
                        guard let plan = counterpart(of: subscription.plan) else { return nil }
                        var mapped = record
                        mapped.subscription = Subscription(id: subscription.id, customerKey: subscription.customerKey, plan: plan,
                                                           anchor: subscription.anchor, start: subscription.start, end: subscription.end,
                                                           origin: subscription.origin)
                        return mapped
                    }
                }, customersWithOpenItems: [], usage: reads.usage)
                let liveAssembler = InvoiceAssembler(catalog: live, usage: reads.usage)
                let candidateAssembler = InvoiceAssembler(catalog: candidate, usage: reads.usage)
                let stored = recordedTax ? try recordedRates(group) : [:]
                for bill in group {
                    if let done = current, done.customerKey != bill.customerKey {
                        if done.bills > 0 { try each(done) }
                        current = nil
                    }
                    // A customer with a bill the candidate cannot rate is left out whole.
                    guard !excluded.contains(bill.customerKey) else { continue }
                    let before = try billRun.draft(bill, assembler: liveAssembler, reads: liveReads, late: [:]).invoice
                    let plans = before.lines.compactMap { $0.subscriptionId.flatMap { subscriptionPlans[$0] } }
                    if let plan = plans.first(where: { counterpart(of: $0) == nil }) {
                        outcome.unmatched[plan.key, default: []].insert(bill.customerKey)
                        excluded.insert(bill.customerKey)
                        current = nil
                        continue
                    }
                    let after = try billRun.draft(bill, assembler: candidateAssembler, reads: candidateReads, late: [:]).invoice
                    let decision = try taxDecision(customerKey: bill.customerKey, billDate: bill.billDate, billRun: billRun, recorded: stored)
                    if current == nil {
                        current = CustomerComparison(customerKey: bill.customerKey, currency: before.currency, plan: "", candidatePlan: "")
                    }
                    // The plan of the bill's last line: the subscription in service at its end.
                    if let plan = plans.last {
                        current!.plan = plan.key
                        current!.candidatePlan = counterpart(of: plan)?.key ?? ""
                    }
                    current!.add(before: InvoiceTax.apply(decision, to: before), after: InvoiceTax.apply(decision, to: after))
                }
            }
            if let done = current, done.bills > 0 { try each(done) }
        }
        return outcome
    }

    /// (customer, bill date) of the customers' subscriptions' bill dates in `[from, to)`, closed
    /// or not, in customer order: one customer's bills are rated together.
    static func billDates(_ customerKeys: [String], _ subscriptions: [String: [SubscriptionRecord]], from: Instant, to: Instant) -> [PendingBill] {
        customerKeys.flatMap { key in
            Set((subscriptions[key] ?? []).flatMap { $0.subscription.billDates(after: from + -1, through: to + -1) }).sorted()
                .map { PendingBill(customerKey: key, billDate: $0, subscriptionIds: []) }
        }
    }

    /// The tax of a bill, the same on both sides: the tax stage's decision for the configured
    /// provider; with Stripe Tax, the rate recorded on the bill's invoice when it has one (Stripe
    /// is never called), else the local rate table as `rates` would decide. A decision the tax
    /// stage would fail the invoice with (tax enforced, no rate) rates the bill without tax.
    func taxDecision(customerKey: String, billDate: Instant, billRun: BillRun,
                     recorded: [String: AppliedTax]) throws -> TaxDecision {
        guard settings.tax.provider != .none, let customer = try store.customer(key: customerKey) else {
            return .noRateMatched(country: nil, state: nil)
        }
        if settings.tax.provider == .stripe {
            if let applied = recorded[StoredInvoice.makeId(customerKey: customerKey, billDate: billDate)] {
                return .apply(TaxRate(country: applied.country ?? "", state: applied.state, rate: applied.rate, name: applied.name))
            }
            return (try? TaxDecision.decide(customerKey: customerKey, exemption: customer.taxExempt, country: customer.billingAddress.country,
                                            state: customer.billingAddress.state, table: settings.tax.rates, enforced: false))
                ?? .noRateMatched(country: nil, state: nil)
        }
        do { return try billRun.taxDecision(for: customer) } catch is TaxError {
            return .noRateMatched(country: customer.billingAddress.country, state: customer.billingAddress.state)
        }
    }

    /// The tax rates recorded on the group's invoices, by invoice id.
    func recordedRates(_ group: [PendingBill]) throws -> [String: AppliedTax] {
        let ids = group.map { StoredInvoice.makeId(customerKey: $0.customerKey, billDate: $0.billDate) }
        var rates: [String: AppliedTax] = [:]
        for invoice in try store.invoices(ids: ids) { rates[invoice.id] = invoice.appliedTax }
        return rates
    }
}

/// What a simulation found besides the comparisons.
///
/// Rules: a bill date is rated from the usage stored now, as the rate stage rates a period
/// (late usage counts in the period it belongs to); carried credits, adjustments and voided
/// lines billed again are left out on both sides, since no catalog decides them.
public struct SimulationOutcome: Sendable {
    /// Bill dates in the range, with or without an invoice.
    public var bills = 0
    /// Live plans the candidate has no counterpart for, each with the customers whose bills it
    /// kept out of the simulation.
    public var unmatched: [String: Set<String>] = [:]
}

/// A simulation the user asked for wrongly: exit status 2.
public enum SimulationError: Error, CustomStringConvertible, Sendable {
    case range(from: Instant, to: Instant)
    case unknownLivePlan(String, known: [String])
    case unknownCandidatePlan(String, known: [String])

    public var description: String {
        switch self {
        case .range(let from, let to):
            return "--from (\(from.rfc3339)) must be before --to (\(to.rfc3339)): the range holds bill dates from --from up to --to"
        case .unknownLivePlan(let key, let known):
            return "--map names plan \(key), which the live catalog does not have (plans: \(known.joined(separator: ", ")))"
        case .unknownCandidatePlan(let key, let known):
            return "--map names plan \(key), which the candidate catalog does not have (plans: \(known.joined(separator: ", ")))"
        }
    }
}
