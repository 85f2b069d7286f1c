import ArgumentParser
import Billing
import Foundation
import Pipeline
import Reports
import Store

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Rate a range of bill dates with a candidate catalog beside the live one; nothing is stored.",
        discussion: """
            Every subscription's bill dates in [--from, --to), billed already or not, are rated twice \
            on the same usage: with the live catalog and with the candidate file (checked as \
            `catalog import` checks it; with problems, each is listed, the report holds them on a \
            Problems sheet, and the exit status is 2). A live plan is rated on the candidate plan \
            of the same key (the same version if the candidate has it, else its latest), or on the \
            one --map names; a plan without a counterpart is reported and its customers left out. \
            --out writes the workbook (Summary, Customers, Plans, Distribution) or the Customers \
            sheet as CSV; --format json prints totals and customers on stdout.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case file
        case json
    }

    @OptionGroup var options: GlobalOptions
    @Option(help: ArgumentHelp("The candidate catalog file (the format of `catalog import`).", valueName: "file"))
    var catalog: String
    @Option(help: ArgumentHelp("A live plan rated on another candidate plan; repeatable.", valueName: "old=new"))
    var map: [String] = []
    @Option(help: ArgumentHelp("The first bill date included (RFC 3339).", valueName: "time"), transform: Time.parse)
    var from: Time
    @Option(help: ArgumentHelp("The bill date the range stops before (RFC 3339).", valueName: "time"), transform: Time.parse)
    var to: Time
    @Option(help: ArgumentHelp("The report to write: FILE.xlsx or FILE.csv (the Customers sheet).", valueName: "file"))
    var out: String?
    @Option(help: "file: the report at --out; json: totals and customers on stdout.")
    var format: Format = .file

    func validate() throws {
        guard from.instant < to.instant else {
            throw ValidationError("--from (\(from.instant.rfc3339)) must be before --to (\(to.instant.rfc3339)): the range holds bill dates from --from up to --to")
        }
        switch format {
        case .file: if out == nil { throw ValidationError("--out FILE.xlsx|FILE.csv is needed (or --format json)") }
        case .json: if out != nil { throw ValidationError("--out is for the report file; --format json prints on stdout") }
        }
        _ = try planMap()
    }

    /// `--map OLD=NEW`, each live plan at most once.
    func planMap() throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in map {
            let parts = entry.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--map takes OLD_PLAN=NEW_PLAN, not \(entry)")
            }
            guard result.updateValue(parts[1], forKey: parts[0]) == nil else {
                throw ValidationError("--map names plan \(parts[0]) twice")
            }
        }
        return result
    }

    func run() throws {
        let context = try options.context()
        let candidate: Catalog
        do { candidate = try CatalogReader.read(try readFile(catalog)) } catch let error as CatalogError {
            if let out { try report { try SimulationReport.problems(error.problems, path: out) } }
            throw ProblemList(file: catalog, error)
        }
        let simulation = try Simulation(store: context.store, settings: context.settings, candidate: candidate, map: try planMap())
        let range = (from: from.instant, to: to.instant)
        if let out {
            let report = try self.report { try SimulationReport(path: out) }
            do {
                let outcome = try simulation.run(from: range.from, to: range.to) { try report.add($0) }
                try self.report { try report.finish(from: range.from, to: range.to, unmatched: outcome.unmatchedCounts) }
                warnUnmatched(outcome)
            } catch {
                report.discard()
                throw error
            }
            printOut(out)
        } else {
            try printJSON(simulation, range)
        }
    }

    /// Report errors as the `report` commands map them: the user's to fix (exit 2) or a failure.
    func report<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ReportError {
            throw error.isInput ? InputError(error.message) as any Error : CommandFailure(error.message)
        }
    }

    func warnUnmatched(_ outcome: SimulationOutcome) {
        for (plan, customers) in outcome.unmatchedCounts {
            printError("warning: plan \(plan) has no counterpart in \(catalog) (add --map \(plan)=PLAN): \(customers) customers not simulated")
        }
    }

    /// `{"customers": [...], "totals": [...], "unmatched": [...]}` with sorted keys, the customers
    /// written as they come so memory stays flat; amounts as decimal strings.
    func printJSON(_ simulation: Simulation, _ range: (from: Instant, to: Instant)) throws {
        var totals = ComparisonTally<String>()
        var buffer = "{\n  \"customers\": ["
        var first = true
        let outcome = try simulation.run(from: range.from, to: range.to) { comparison in
            totals.add(comparison, to: comparison.currency.code)
            let money = { (amount: Decimal) in JSONValue.string(Money(amount, comparison.currency).formatted) }
            buffer += (first ? "\n    " : ",\n    ") + JSONValue.object([
                "customer": .string(comparison.customerKey), "currency": .string(comparison.currency.code),
                "plan": .string(comparison.plan), "candidatePlan": .string(comparison.candidatePlan),
                "before": money(comparison.before), "after": money(comparison.after), "difference": money(comparison.difference),
            ]).compact
            first = false
            if buffer.utf8.count > 1 << 16 {
                writeOut(buffer)
                buffer = ""
            }
        }
        let totalRows = totals.sorted.map { code, entry in
            let money = { (amount: Decimal) in JSONValue.string(Money(amount, entry.currency).formatted) }
            return JSONValue.object(["currency": .string(code), "before": money(entry.before), "after": money(entry.after),
                                     "difference": money(entry.difference)]).compact
        }
        let unmatched = outcome.unmatchedCounts.map { JSONValue.object(["plan": .string($0.plan), "customers": .number($0.customers)]).compact }
        buffer += (first ? "],\n" : "\n  ],\n") + "  \"totals\": [" + JSONArray.items(totalRows) + "],\n"
            + "  \"unmatched\": [" + JSONArray.items(unmatched) + "]\n}\n"
        writeOut(buffer)
        warnUnmatched(outcome)
    }
}

enum JSONArray {
    /// Compact items, one to a line, indented inside their array.
    static func items(_ items: [String]) -> String {
        items.isEmpty ? "" : "\n    " + items.joined(separator: ",\n    ") + "\n  "
    }
}

extension SimulationOutcome {
    /// The live plans without a counterpart and how many customers each kept out, by plan key.
    var unmatchedCounts: [(plan: String, customers: Int)] {
        unmatched.keys.sorted().map { ($0, unmatched[$0]!.count) }
    }
}
