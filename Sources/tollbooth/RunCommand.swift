import ArgumentParser
import Billing
import Foundation
import Logging
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
    @Flag(help: "Show what would be rated and issued, changing nothing and calling no one.") var dryRun = false
    @Flag(help: ArgumentHelp("Join the bill run as one of several workers, on this machine or others, that share each stage by customer.",
                             discussion: "Start `tollbooth run --worker` as many times as there are workers; each claims customers a batch at a time under a lease (leaseSeconds), and takes over those of a worker that died once its lease runs out."))
    var worker = false

    func validate() throws {
        if worker && dryRun { throw ValidationError("--dry-run shows one run's work: give it without --worker") }
    }

    func run() throws {
        let context = try options.context()
        let asOf = asOf?.instant ?? context.now
        let holder = "bill run as of \(asOf.rfc3339) started \(context.now.rfc3339)"
        let lock: any RunLock
        if worker {
            guard let sharing = context.store as? any WorkSharing else { throw InputError("\(context.store.path) cannot share a bill run between workers") }
            lock = try sharing.workerRunLock(holder: "workers of the " + holder)
        } else {
            lock = try context.store.runLock(holder: holder)
        }
        // The run reads and writes every invoice of the period: a page cache that holds them.
        try context.store.useLargeCache()
        let stripe = try StripeCommand.connection(options)
        let billRun = BillRun(store: context.store, settings: context.settings, stripe: stripe,
                              logger: Logger(label: "tollbooth.run"), progress: { printError($0) })
        var share: WorkerShare?
        if worker {
            let owner = "\(ProcessInfo.processInfo.hostName) pid \(getpid()) \(UUID().uuidString.prefix(8).lowercased())"
            share = try WorkerShare(store: context.store, renewal: try context.store.openConnection(), owner: owner,
                                    leaseSeconds: context.settings.leaseSeconds, logger: Logger(label: "tollbooth.run"),
                                    livingWorkers: { stripe?.client.shareLimits(among: $0) })
            try share?.start()
            billRun.share = share
        }
        defer { share?.stop() }
        let summary = try billRun.run(asOf: asOf, stages: stage.map { [$0] } ?? Stage.allCases, dryRun: dryRun, now: context.now)
        withExtendedLifetime(lock) {}
        try RunCommand.report(summary, failed: "failed")
    }

    /// A line per stage on stdout; exit 1 when any invoice failed, saying where to look.
    static func report(_ summary: RunSummary, failed: String) throws {
        if summary.abandonedRuns > 0 {
            printError("note: \(summary.abandonedRuns == 1 ? "a run" : "\(summary.abandonedRuns) runs") left running by a process that died marked abandoned; this run resumed its work")
        }
        for stage in summary.stages { printOut("\(stage.stage.rawValue): \(stage.message)") }
        if summary.failedInvoices > 0 {
            printError("error: \(summary.failedInvoices) invoices \(failed): `tollbooth invoices list --status failed` shows why")
            throw ExitCode(ErrorReport.failure)
        }
    }
}

struct RerunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Resume failed invoices from the stage that stopped them.",
        discussion: """
            An invoice that failed at tax is taxed again, then issued; one that failed at issue \
            continues where it stopped: what an earlier attempt made in Stripe is found by its \
            metadata and kept, never made twice. Exits 1 when an invoice fails again and 75 when \
            another bill run holds the lock.
            """)

    @OptionGroup var options: GlobalOptions
    @Flag(help: "Every failed invoice.") var failed = false
    @Argument(help: ArgumentHelp("The failed invoice to resume.", valueName: "invoice-id")) var invoiceId: String?

    func validate() throws {
        if failed == (invoiceId != nil) { throw ValidationError("give either --failed or one invoice id") }
    }

    func run() throws {
        let context = try options.context()
        var ids: [String]
        if let invoiceId {
            guard let invoice = try context.store.invoice(id: invoiceId) else {
                throw InputError("no invoice \(invoiceId): `tollbooth invoices list --status failed` shows the failed ones")
            }
            guard invoice.status == .failed else {
                throw InputError("invoice \(invoiceId) is \(invoice.status.rawValue), not failed: only failed invoices are re-run")
            }
            ids = [invoiceId]
        } else {
            ids = try context.store.invoices(status: .failed, withLines: false).map(\.id)
        }
        guard !ids.isEmpty else {
            printOut("no failed invoices")
            return
        }
        let lock = try context.store.runLock(holder: "rerun of \(ids.count) failed invoices started \(context.now.rfc3339)")
        let billRun = BillRun(store: context.store, settings: context.settings, stripe: try StripeCommand.connection(options),
                              logger: Logger(label: "tollbooth.rerun"), progress: { printError($0) })
        let summary = try billRun.rerun(invoiceIds: ids, now: context.now)
        withExtendedLifetime(lock) {}
        try RunCommand.report(summary, failed: "failed again")
    }
}
