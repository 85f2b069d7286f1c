import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

extension Stage: ExpressibleByArgument {}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the bill run: close, rate, tax, issue, collect, reconcile.",
        discussion: """
            Each stage is idempotent and resumable: running it twice, or killing it and running it \
            again, gives the same invoices, never a duplicate. A period closes one collection \
            window (default PT1H) after it ends. Prints a summary line per stage; exits 1 when any \
            invoice failed and 75 when another bill run holds the lock.
            """)

    @OptionGroup var options: GlobalOptions
    @Option(name: .customLong("as-of"), help: ArgumentHelp("Bill everything due up to this RFC 3339 time (default: now).", valueName: "time"),
            transform: Time.parse)
    var asOf: Time?
    @Option(help: ArgumentHelp("Run only this stage.", valueName: "stage")) var stage: Stage?
    @Flag(help: "Show what would be rated, changing nothing.") var dryRun = false

    func run() throws {
        let context = try options.context()
        let asOf = asOf?.instant ?? context.now
        let lock = try RunLock(databasePath: options.databasePath, holder: "bill run as of \(asOf.rfc3339) started \(context.now.rfc3339)")
        let billRun = BillRun(store: context.store, settings: context.settings, progress: { printError($0) })
        let summary = try billRun.run(asOf: asOf, stages: stage.map { [$0] } ?? Stage.allCases, dryRun: dryRun, now: context.now)
        withExtendedLifetime(lock) {}
        for stage in summary.stages { printOut("\(stage.stage.rawValue): \(stage.message)") }
        if summary.failedInvoices > 0 {
            printError("error: \(summary.failedInvoices) invoices failed: `tollbooth invoices list --status failed` shows why")
            throw ExitCode(ErrorReport.failure)
        }
    }
}
