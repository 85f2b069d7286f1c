import Billing
import Foundation

// The job ledger (runs, stages, period closes), carried credits, adjustments and
// reconciliations, as `SQLiteLedger` and `SQLiteReconciliation` keep them.

extension MemoryStore {
    // MARK: Runs and stages

    public func startRun(asOf: Instant, dryRun: Bool, at now: Instant, abandoned: inout Int) throws -> Int64 {
        var count = 0
        let id = try write { state in
            for index in state.runs.indices where state.runs[index].status == "running" {
                state.runs[index].status = "abandoned"
                state.runs[index].finishedAt = now
                count += 1
            }
            for index in state.stages.indices where state.stages[index].status == "running" {
                state.stages[index].status = "abandoned"
                state.stages[index].finishedAt = now
            }
            let id = nextRowId(state.runs.map(\.id))
            state.runs.append(RunRow(id: id, asOf: asOf, startedAt: now, status: "running", dryRun: dryRun))
            return id
        }
        abandoned = count
        return id
    }

    public func finishRun(_ id: Int64, succeeded: Bool, at now: Instant) throws {
        try write { state in
            for index in state.runs.indices where state.runs[index].id == id {
                state.runs[index].status = succeeded ? "succeeded" : "failed"
                state.runs[index].finishedAt = now
            }
        }
    }

    public func startStage(_ stage: Stage, run: Int64, at now: Instant) throws {
        try write { state in
            guard !state.stages.contains(where: { $0.runId == run && $0.stage == stage }) else {
                throw Constraint.primaryKey("job_stages.run_id, job_stages.stage")
            }
            try Constraint.reference(state.runs.contains { $0.id == run })
            state.stages.append(StageRow(runId: run, stage: stage, startedAt: now, status: "running"))
        }
    }

    public func finishStage(_ stage: Stage, run: Int64, counts: [(String, Int)], errors: [String], at now: Instant) throws {
        let json = "{" + counts.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        try write { state in
            for index in state.stages.indices where state.stages[index].runId == run && state.stages[index].stage == stage {
                state.stages[index].finishedAt = now
                state.stages[index].status = errors.isEmpty ? "succeeded" : "failed"
                state.stages[index].counts = json
                state.stages[index].errors = errors.joined(separator: "\n")
            }
        }
    }

    public func ledger(limit: Int) throws -> [(run: Int64, asOf: Instant, status: String, stage: String, counts: String, errors: String)] {
        read { state in
            let after = (state.runs.map(\.id).max() ?? 0) - Int64(limit)
            let runs = Dictionary(uniqueKeysWithValues: state.runs.map { ($0.id, $0) })
            return state.stages.enumerated().filter { $0.element.runId > after && runs[$0.element.runId] != nil }.sorted {
                let (a, b) = ($0.element, $1.element)
                if a.runId != b.runId { return a.runId < b.runId }
                if a.startedAt != b.startedAt { return a.startedAt < b.startedAt }
                return $0.offset < $1.offset
            }.map(\.element).map { stage in
                let run = runs[stage.runId]!
                return (run.id, run.asOf, run.status, stage.stage.rawValue, stage.counts, stage.errors)
            }
        }
    }

    // MARK: Closes

    public func closedBillDates(subscriptionId: String) throws -> [Instant] {
        read { $0.closes.values.filter { $0.subscriptionId == subscriptionId }.map(\.billDate).sorted() }
    }

    public func lastClosedBillDates() throws -> [String: Instant] {
        read { state in
            var result: [String: Instant] = [:]
            for close in state.closes.values { result[close.subscriptionId] = max(result[close.subscriptionId] ?? close.billDate, close.billDate) }
            return result
        }
    }

    @discardableResult
    public func close(subscriptionId: String, customerKey: String, billDate: Instant, run: Int64) throws -> Bool {
        try write { state in
            let key = CloseKey(subscriptionId: subscriptionId, billDate: billDate)
            guard state.closes[key] == nil else { return false }
            try Constraint.reference(state.subscriptions[subscriptionId] != nil && state.customers[customerKey] != nil
                                     && state.runs.contains { $0.id == run })
            state.closes[key] = CloseRow(subscriptionId: subscriptionId, billDate: billDate, customerKey: customerKey, runId: run)
            state.bump("closes")
            return true
        }
    }

    public func pendingBills() throws -> [PendingBill] {
        read { state in
            let open = state.closes.values.filter { $0.ratedRunId == nil }.sorted {
                if $0.billDate != $1.billDate { return $0.billDate < $1.billDate }
                if $0.customerKey != $1.customerKey { return $0.customerKey.sqlPrecedes($1.customerKey) }
                return $0.subscriptionId.sqlPrecedes($1.subscriptionId)
            }
            var bills: [PendingBill] = []
            for close in open {
                if let last = bills.last, last.customerKey == close.customerKey, last.billDate == close.billDate {
                    bills[bills.count - 1].subscriptionIds.append(close.subscriptionId)
                } else {
                    bills.append(PendingBill(customerKey: close.customerKey, billDate: close.billDate, subscriptionIds: [close.subscriptionId]))
                }
            }
            return bills
        }
    }

    public func markRated(_ bill: PendingBill, run: Int64, invoiceId: String?) throws {
        try write { state in
            for (key, close) in state.closes where close.customerKey == bill.customerKey && close.billDate == bill.billDate && close.ratedRunId == nil {
                try Constraint.reference(state.runs.contains { $0.id == run } && (invoiceId.map { state.invoices[$0] != nil } ?? true))
                state.closes[key]?.ratedRunId = run
                state.closes[key]?.invoiceId = invoiceId
            }
        }
    }

    // MARK: Carried credits

    public func openCredits(customerKey: String) throws -> [(id: Int64, credit: CarriedCredit)] {
        read { state in
            state.credits.filter { $0.customerKey == customerKey && $0.consumedBillDate == nil }.map { row in
                let line = InvoiceLine(kind: row.kind, subscriptionId: row.subscriptionId, rateCardKey: row.rateCardKey, featureKey: row.featureKey,
                                       description: row.description, period: Period(start: row.periodStart, end: row.periodEnd),
                                       amount: row.amount.storedDecimal ?? 0, taxBehavior: row.taxBehavior, taxCode: row.taxCode,
                                       detail: row.detail)
                return (row.id, CarriedCredit(line: line, originBillDate: row.originBillDate))
            }
        }
    }

    public func replaceCredits(customerKey: String, consumed: [Int64], billDate: Instant, leftOver: [CarriedCredit]) throws {
        try write { state in
            for id in consumed {
                for index in state.credits.indices where state.credits[index].id == id { state.credits[index].consumedBillDate = billDate }
            }
            for credit in leftOver {
                let line = credit.line
                try Constraint.reference(state.customers[customerKey] != nil && (line.subscriptionId.map { state.subscriptions[$0] != nil } ?? true))
                state.credits.append(CreditRow(
                    id: nextRowId(state.credits.map(\.id)), customerKey: customerKey, originBillDate: credit.originBillDate,
                    createdBillDate: billDate, kind: line.kind, subscriptionId: line.subscriptionId, rateCardKey: line.rateCardKey,
                    featureKey: line.featureKey, description: line.description, periodStart: line.period.start, periodEnd: line.period.end,
                    amount: line.amount.stored, taxBehavior: line.taxBehavior, taxCode: line.taxCode, detail: line.detail))
            }
        }
    }

    public func creditBalances() throws -> [String: Decimal] {
        read { state in
            var result: [String: Decimal] = [:]
            for credit in state.credits where credit.consumedBillDate == nil {
                result[credit.customerKey, default: 0] += credit.amount.storedDecimal ?? 0
            }
            return result
        }
    }

    // MARK: Adjustments

    @discardableResult
    public func addAdjustment(customerKey: String, amount: Decimal, reason: String, at now: Instant) throws -> String {
        try write { state in
            guard state.customers[customerKey] != nil else { throw StoreInputError("no customer \(customerKey)") }
            guard !reason.isEmpty else { throw Constraint.check("length(reason) > 0") }
            let id = Identifier.make("adj")
            state.adjustments[id] = AdjustmentRow(id: id, customerKey: customerKey, amount: amount.stored, reason: reason, createdAt: now)
            return id
        }
    }

    public func openAdjustments(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)] {
        read { state in
            state.adjustments.values.filter { $0.customerKey == customerKey && $0.invoiceId == nil && $0.createdAt <= billDate }
                .sorted { $0.createdAt != $1.createdAt ? $0.createdAt < $1.createdAt : $0.id.sqlPrecedes($1.id) }
                .map { row in
                    (row.id, InvoiceLine(kind: .adjustment, subscriptionId: nil, rateCardKey: nil, description: row.reason,
                                         period: Period(start: row.createdAt, end: row.createdAt), amount: row.amount.storedDecimal ?? 0))
                }
        }
    }

    public func attachAdjustments(_ ids: [String], invoiceId: String) throws {
        try write { state in
            for id in ids where state.adjustments[id] != nil {
                try Constraint.reference(state.invoices[invoiceId] != nil)
                state.adjustments[id]?.invoiceId = invoiceId
            }
        }
    }

    // MARK: Reconciliations

    public func startReconciliation(runId: Int64?, from: Instant, to: Instant, account: String, at now: Instant) throws -> Int64 {
        try write { state in
            guard to > from else { throw Constraint.check("to_bill_date > from_bill_date") }
            try Constraint.reference(runId.map { id in state.runs.contains { $0.id == id } } ?? true)
            let id = nextRowId(state.reconciliations.map(\.id))
            state.reconciliations.append(Reconciliation(id: id, from: from, to: to, account: account, compared: 0, createdAt: now, finishedAt: nil))
            return id
        }
    }

    public func recordDifference(_ difference: ReconciliationDifference, reconciliation: Int64) throws {
        try write { state in
            try Constraint.reference(state.reconciliations.contains { $0.id == reconciliation })
            state.differences.append((reconciliation, difference))
        }
    }

    public func finishReconciliation(_ id: Int64, compared: Int, at now: Instant) throws {
        try write { state in
            guard compared >= 0 else { throw Constraint.check("compared >= 0") }
            for index in state.reconciliations.indices where state.reconciliations[index].id == id {
                state.reconciliations[index].compared = compared
                state.reconciliations[index].finishedAt = now
            }
        }
    }

    public func latestReconciliation(covering from: Instant, _ to: Instant) throws -> Reconciliation? {
        read { state in
            state.reconciliations.filter { $0.from <= from && $0.to >= to && $0.finishedAt != nil }.max { $0.id < $1.id }
        }
    }

    public func differences(reconciliation: Int64) throws -> [ReconciliationDifference] {
        read { $0.differences.filter { $0.reconciliation == reconciliation }.map(\.difference) }
    }
}
