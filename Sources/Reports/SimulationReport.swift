import Billing
import Foundation

/// The report of `tollbooth simulate`: a workbook of Summary (per currency, its amounts as
/// formulas over Customers), Customers (streamed, one row per customer as the simulation hands
/// it over), Plans and Distribution (a histogram of the percent change and its chart), or the
/// CSV of the Customers sheet. Only the tallies per currency, per plan and per bucket are kept.
public final class SimulationReport {
    private let output: any ReportOutput
    private let summary: any SheetOutput
    private let customers: any SheetOutput
    private let plans: any SheetOutput
    private let distribution: any SheetOutput
    private var currencies = ComparisonTally<String>()
    private var byPlan = ComparisonTally<PlanGroup>()
    private var buckets = [Int](repeating: 0, count: ChangeBucket.labels.count)

    struct PlanGroup: Hashable, Comparable, Sendable {
        var plan: String
        var candidatePlan: String
        var currency: String

        static func < (a: PlanGroup, b: PlanGroup) -> Bool {
            (a.plan, a.candidatePlan, a.currency) < (b.plan, b.candidatePlan, b.currency)
        }
    }

    /// Opens the report at `path` (`.xlsx`, or `.csv` for the Customers sheet alone); the file
    /// appears there only when `finish` completes it.
    public init(path: String) throws {
        output = try SimulationReport.output(path: path, sheet: SheetLayout.simulationCustomers.name)
        do {
            summary = try output.sheet(.simulationSummary)
            customers = try output.sheet(.simulationCustomers)
            plans = try output.sheet(.simulationPlans)
            distribution = try output.sheet(.simulationDistribution)
        } catch {
            output.discard()
            throw error
        }
    }

    static func output(path: String, sheet: String) throws -> any ReportOutput {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "xlsx": return try XLSXOutput(path: path)
        case "csv": return try CSVOutput(path: path, sheet: sheet)
        case let other:
            throw ReportError(.arguments, "--out must end in .xlsx or .csv, not \(other.isEmpty ? "no extension" : "." + other): \(path)")
        }
    }

    /// One customer's row, written at once.
    public func add(_ comparison: CustomerComparison) throws {
        let currency = comparison.currency
        let minor = { (amount: Decimal) in Money(amount, currency).minorUnits }
        try customers.row([
            .text(comparison.customerKey), .text(currency.code), .text(comparison.plan), .text(comparison.candidatePlan),
            .integer(comparison.bills), .money(minor(comparison.before), currency), .money(minor(comparison.after), currency),
            .money(minor(comparison.difference), currency), comparison.change.map(Cell.percent) ?? .empty,
            .text(comparison.changes.map { SimulationReport.text($0, currency) }.joined(separator: "; ")),
        ])
        currencies.add(comparison, to: currency.code)
        byPlan.add(comparison, to: PlanGroup(plan: comparison.plan, candidatePlan: comparison.candidatePlan, currency: currency.code))
        buckets[ChangeBucket.index(comparison)] += 1
    }

    /// "API requests (usage, 2026-06-01): 24.69 -> 27.16 (+2.47)"
    static func text(_ change: LineChange, _ currency: Currency) -> String {
        let money = { (amount: Decimal) in Money(amount, currency).formatted }
        let sign = change.difference > 0 ? "+" : ""
        return "\(change.name) (\(change.kind.rawValue), \(change.billDate.rfc3339.prefix(10))): "
            + "\(money(change.before)) -> \(money(change.after)) (\(sign)\(money(change.difference)))"
    }

    /// Writes Plans, Distribution and Summary and moves the file into place. `unmatched` lists
    /// the live plans without a counterpart, with the number of customers left out for each.
    public func finish(from: Instant, to: Instant, unmatched: [(plan: String, customers: Int)]) throws {
        do {
            try writePlans(unmatched: unmatched)
            try writeDistribution()
            try writeSummary(from: from, to: to, unmatched: unmatched)
            try output.finish()
        } catch {
            output.discard()
            throw error
        }
    }

    /// Drops everything written: nothing appears at the path.
    public func discard() { output.discard() }

    /// The candidate catalog's problems as a report of their own (the Problems sheet), written
    /// when the candidate is refused.
    public static func problems(_ problems: [CatalogProblem], path: String) throws {
        let output = try SimulationReport.output(path: path, sheet: SheetLayout.simulationProblems.name)
        do {
            let sheet = try output.sheet(.simulationProblems)
            for problem in problems { try sheet.row([.text(problem.location), .text(problem.message)]) }
            try output.finish()
        } catch {
            output.discard()
            throw error
        }
    }

    // MARK: Sheets

    func amountCells(_ entry: ComparisonTally<some Hashable & Comparable & Sendable>.Entry) -> [Cell] {
        let minor = { (amount: Decimal) in Money(amount, entry.currency).minorUnits }
        return [.money(minor(entry.before), entry.currency), .money(minor(entry.after), entry.currency),
                .money(minor(entry.difference), entry.currency), entry.change.map(Cell.percent) ?? .empty,
                .integer(entry.more), .integer(entry.less), .integer(entry.same)]
    }

    func writePlans(unmatched: [(plan: String, customers: Int)]) throws {
        for (group, entry) in byPlan.sorted {
            try plans.row([.text(group.plan), .text(group.candidatePlan), .text(group.currency), .integer(entry.customers)] + amountCells(entry))
        }
        for (plan, count) in unmatched {
            try plans.row([.text(plan), .text("(none: not simulated)"), .empty, .integer(count)])
        }
    }

    func writeDistribution() throws {
        for (label, count) in zip(ChangeBucket.labels, buckets) { try distribution.row([.text(label), .integer(count)]) }
        try distribution.chartOfRows(.distribution)
    }

    func writeSummary(from: Instant, to: Instant, unmatched: [(plan: String, customers: Int)]) throws {
        let layout = SheetLayout.simulationCustomers
        let rows = customers.dataRows
        let currency = layout.index("Currency"), difference = layout.index("Difference")
        for (code, entry) in currencies.sorted {
            let minor = { (amount: Decimal) in Money(amount, entry.currency).minorUnits }
            let sum = { (title: String, value: Decimal) -> Cell in
                .formula(Formula.sumIfs(layout.index(title), rows: rows, criteria: [(currency, code)], sheet: layout.name),
                         cached: .money(minor(value), entry.currency))
            }
            let count = { (test: String?, value: Int) -> Cell in
                .formula(Formula.countIfs(rows: rows, criteria: [(currency, code)] + (test.map { [(difference, $0)] } ?? []), sheet: layout.name),
                         cached: .integer(value))
            }
            try summary.row([.text(code), count(nil, entry.customers), sum("Before", entry.before), sum("After", entry.after),
                             sum("Difference", entry.difference), entry.change.map(Cell.percent) ?? .empty,
                             count(">0", entry.more), count("<0", entry.less), count("=0", entry.same)])
        }
        try summary.note("Bill dates from \(from.rfc3339) up to \(to.rfc3339) (not included), each rated with the live catalog (Before) and the candidate (After) on the same usage. Amounts are invoice totals with tax.")
        for (plan, count) in unmatched {
            try summary.note("Plan \(plan) has no counterpart in the candidate (add --map \(plan)=PLAN): \(count) customers not simulated.")
        }
    }
}

/// The buckets of the Distribution sheet: a change falls in the bucket whose bound away from
/// zero it does not pass (+10.00% is in "+5% to +10%"); no change, and a bill that was zero
/// before (no percentage), have buckets of their own.
enum ChangeBucket {
    static let bounds: [Decimal] = [Decimal(5) / 100, Decimal(10) / 100, Decimal(20) / 100, Decimal(50) / 100]

    static let labels: [String] = ["below -50%", "-50% to -20%", "-20% to -10%", "-10% to -5%", "-5% to 0%", "no change",
                                   "0% to +5%", "+5% to +10%", "+10% to +20%", "+20% to +50%", "above +50%", "from zero"]

    static func index(_ comparison: CustomerComparison) -> Int {
        guard comparison.difference != 0 else { return 5 }
        guard let change = comparison.change else { return labels.count - 1 }
        // Buckets away from zero: 0 up to 5%, ... , above 50%.
        let away = bounds.firstIndex { change.magnitude <= $0 } ?? bounds.count
        return change > 0 ? 6 + away : 4 - away
    }
}

extension ChartTitles {
    static let distribution = ChartTitles(title: "Customers by change of their bill", categories: "Change (candidate against live)",
                                          values: "Customers", categoryFormat: nil)
}

extension ReportLayout {
    /// The simulation's sheets; Problems is written alone, when the candidate is refused.
    public static let simulation = ReportLayout(report: "simulation", sheets: [
        .simulationSummary, .simulationCustomers, .simulationPlans, .simulationDistribution, .simulationProblems,
    ])
}

extension SheetLayout {
    static let simulationSummary = SheetLayout(name: "Summary", columns: [
        .init("Currency", .text, width: 10), .init("Customers", .integer, width: 11), .init("Before", .money, width: 18),
        .init("After", .money, width: 18), .init("Difference", .money, width: 18), .init("Change", .percent, width: 10),
        .init("Paying more", .integer, width: 12), .init("Paying less", .integer, width: 12), .init("Paying the same", .integer, width: 15),
    ])

    static let simulationCustomers = SheetLayout(name: "Customers", columns: [
        .init("Customer", .text, width: 20), .init("Currency", .text, width: 10), .init("Plan", .text, width: 14),
        .init("Candidate plan", .text, width: 15), .init("Bills", .integer, width: 7), .init("Before", .money, width: 16),
        .init("After", .money, width: 16), .init("Difference", .money, width: 16), .init("Change", .percent, width: 10),
        .init("Lines that moved most", .text, width: 80),
    ])

    static let simulationPlans = SheetLayout(name: "Plans", columns: [
        .init("Plan", .text, width: 14), .init("Candidate plan", .text, width: 22), .init("Currency", .text, width: 10),
        .init("Customers", .integer, width: 11), .init("Before", .money, width: 18), .init("After", .money, width: 18),
        .init("Difference", .money, width: 18), .init("Change", .percent, width: 10), .init("Paying more", .integer, width: 12),
        .init("Paying less", .integer, width: 12), .init("Paying the same", .integer, width: 15),
    ])

    static let simulationDistribution = SheetLayout(name: "Distribution", columns: [
        .init("Change", .text, width: 16), .init("Customers", .integer, width: 11),
    ])

    static let simulationProblems = SheetLayout(name: "Problems", columns: [
        .init("Where", .text, width: 50), .init("Problem", .text, width: 90),
    ])
}
