import ArgumentParser
import Foundation
import Reports
import Store

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a finance report as a workbook (.xlsx) or CSV.",
        discussion: """
            A report covers the invoices whose bill date is in [--from, --to). The extension of \
            --out picks the format; a CSV holds one sheet (--sheet names it for the reconciliation). \
            The file appears only once it is complete.
            """,
        subcommands: [Reconciliation.self, Invoices.self, Usage.self])

    /// The options every report takes.
    struct Range: ParsableArguments {
        @Option(help: ArgumentHelp("The first bill date included (RFC 3339).", valueName: "time"), transform: Time.parse)
        var from: Time
        @Option(help: ArgumentHelp("The bill date the range stops before (RFC 3339).", valueName: "time"), transform: Time.parse)
        var to: Time
        @Option(help: ArgumentHelp("The file to write: FILE.xlsx or FILE.csv.", valueName: "file"))
        var out: String
    }

    static func write(_ report: Report, options: GlobalOptions, range: Range, sheet: String?) throws {
        let context = try options.context()
        do {
            try report.write(store: context.store, from: range.from.instant, to: range.to.instant, path: range.out, sheet: sheet)
        } catch let error as ReportError {
            throw error.isInput ? InputError(error.message) as any Error : CommandFailure(error.message)
        } catch let error as ReportAmountError {
            throw CommandFailure(error.description)
        }
        printOut(range.out)
    }
}

extension ReportCommand {
    struct Reconciliation: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summary, Invoices, Lines, Usage, Tax, Credits, Differences and Failures, with totals as formulas.")

        @OptionGroup var options: GlobalOptions
        @OptionGroup var range: Range
        @Option(help: ArgumentHelp("For a CSV: the sheet to write (Summary, Invoices, Lines, Usage, Tax, Credits, Differences, Failures).",
                                   valueName: "name"))
        var sheet: String?

        func run() throws { try ReportCommand.write(.reconciliation, options: options, range: range, sheet: sheet) }
    }

    struct Invoices: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One row per invoice, with Stripe's total and any difference.")

        @OptionGroup var options: GlobalOptions
        @OptionGroup var range: Range

        func run() throws { try ReportCommand.write(.invoices, options: options, range: range, sheet: nil) }
    }

    struct Usage: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Quantity and billed amount per customer and meter.")

        @OptionGroup var options: GlobalOptions
        @OptionGroup var range: Range

        func run() throws { try ReportCommand.write(.usage, options: options, range: range, sheet: nil) }
    }
}
