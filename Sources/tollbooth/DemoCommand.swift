import ArgumentParser
import Billing
import Foundation
import Logging
import Pipeline
import Reports
import Store
import Stripe
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Showcase

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A complete bill run on built-in sample data, in a fresh database.",
        discussion: """
            Creates a database in a new temporary folder (or at --db, which must not exist yet), \
            loads a sample catalog (Starter, Pro with graduated tiers, Enterprise with a minimum \
            commitment, Team with a free trial), three dozen customers in twelve places, their \
            October 2026 subscriptions with an upgrade, a downgrade and a cancellation, a month of \
            usage, and runs the bill run as of 2026-11-01T02:00:00Z against a Stripe simulator \
            (stripe-sim) started on loopback for the demo: every customer saves a card through a \
            Checkout link (one card declines), one invoice fails to issue and is re-run. Prints \
            the invoices and writes them as CSV next to the database. Then the live story in \
            live.db beside it: `tollbooth serve` connects Stripe through its set-up API, a \
            customer subscribes through Checkout and gets its API key by webhook, its checks \
            meet the hard quota's 403, an upgrade lifts it, the period-end bill run is paid by \
            webhook, and a declined card blocks access once the grace period is over.
            """)

    /// `--db` (where to create the demo database; it must not exist) is the global option, so it
    /// may come before or after `demo`; $TOLLBOOTH_DB is ignored, the demo never touches a real database.
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let path: String
        if let db = options.db {
            guard !FileManager.default.fileExists(atPath: db) else {
                throw InputError("\(db) already exists: the demo needs a fresh database; give a new path or leave out --db")
            }
            path = db
        } else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-demo-\(UUID().uuidString.prefix(8).lowercased())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            path = folder.appendingPathComponent("tollbooth.db").path
        }
        let store = try SQLiteStore(path: path)
        let simulator = try DemoSimulator()
        defer { simulator.stop() }
        printError("stripe-sim listening on \(simulator.baseURL) for the demo")
        let result = try Demo.run(store: store, stripe: try simulator.side(), progress: { printError($0) })
        for stage in result.run.stages { printError("\(stage.stage.rawValue): \(stage.message)") }
        if let rerun = result.rerun {
            for stage in rerun.summary.stages { printError("rerun \(rerun.invoiceId): \(stage.stage.rawValue): \(stage.message)") }
        }

        let invoices = try store.invoices()
        var table = Table([.init(title: "INVOICE"), .init(title: "CUSTOMER"), .init(title: "BILL DATE"), .init(title: "LINES", alignment: .right),
                           .init(title: "SUBTOTAL", alignment: .right), .init(title: "TAX", alignment: .right),
                           .init(title: "TOTAL", alignment: .right), .init(title: "STATUS"), .init(title: "STRIPE")])
        var total: Decimal = 0, tax: Decimal = 0
        for invoice in invoices {
            func money(_ amount: Decimal) -> String { Money(amount, invoice.currency).formatted }
            table.append([invoice.id, invoice.customerKey, String(invoice.billDate.rfc3339.prefix(10)), String(invoice.lines.count),
                          money(invoice.subtotal), money(invoice.tax), money(invoice.total), invoice.status.rawValue,
                          invoice.number ?? ""])
            total += invoice.total
            tax += invoice.tax
        }
        table.append(["Total", "", "", "", "", Money(tax, .usd).formatted, Money(total, .usd).formatted, "", ""])
        printOut(table.rendered)

        let csvPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("invoices.csv").path
        let csv = CSV.render(header: InvoicesCommand.csvHeader, rows: invoices.map(InvoicesCommand.csvRow))
        guard FileManager.default.createFile(atPath: csvPath, contents: Data(csv.utf8)) else {
            throw CommandFailure("cannot write \(csvPath)")
        }
        printOut("""

            \(invoices.count) invoices for \(result.subscriptions) subscriptions; \(result.ingest.accepted) usage events metered.
            \(DemoCommand.stripeStory(invoices: invoices, result: result))
            Database:   \(path)
            CSV export: \(csvPath)
            Look closer: \(CommandLine.arguments[0]) --db \(path) invoices show inv_acme_20261101
            """)
        // The live half: the model product's story over HTTP, in a database of its own.
        printOut("")
        let live = DemoLive(folder: URL(fileURLWithPath: path).deletingLastPathComponent(), simulator: simulator, stripe: try simulator.side())
        for line in try live.run() { printOut(line) }
    }

    /// What happened in Stripe, in words: how many were paid, whose card declined, which
    /// invoice failed to issue and how the re-run ended.
    static func stripeStory(invoices: [StoredInvoice], result: Demo.Result) -> String {
        let count = { (status: InvoiceStatus) in invoices.filter { $0.status == status }.count }
        var story = "Stripe (a simulator that stops with the demo): \(count(.paid)) paid, \(count(.paymentFailed)) payment failed, "
            + "\(count(.notRequired)) not required (zero total), \(count(.failed)) failed."
        if let declined = result.declinedCustomer,
           let invoice = invoices.first(where: { $0.customerKey == declined && $0.status == .paymentFailed }) {
            story += "\n\(declined)'s card declined: \(invoice.id) is payment_failed after \(invoice.payment.attemptCount) attempt(s)."
        }
        if let rerun = result.rerun, let issue = rerun.summary.stages.first(where: { $0.stage == .issue }) {
            story += "\n\(rerun.invoiceId) failed to issue (Stripe answered 500 until the client gave up); `tollbooth rerun` resumed it: \(issue.message)."
        }
        return story
    }
}

/// The `stripe-sim` executable beside this one, started for the demo on a free loopback port
/// with no rate limits, and stopped with it; the demo's key is a test key of its default account.
final class DemoSimulator {
    let process = Process()
    let baseURL: String
    let account: String

    init() throws {
        let folder = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let executable = folder.appendingPathComponent("stripe-sim")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw CommandFailure("the demo starts stripe-sim from \(folder.path), and it is not there: build it with `swift build --product stripe-sim`")
        }
        let output = Pipe()
        process.executableURL = executable
        process.arguments = ["--port", "0", "--limits", "none"]
        let lines = try Loopback.start(process, output: output, lines: 2)
        guard lines.count == 2, lines[0].hasPrefix("listening on "), lines[1].hasPrefix("account ") else {
            if process.isRunning { process.terminate() }
            throw CommandFailure("cannot start the demo's Stripe simulator (stripe-sim said: \(lines.joined(separator: " ")))")
        }
        baseURL = "http://" + lines[0].dropFirst("listening on ".count)
        account = String(lines[1].dropFirst("account ".count).prefix { $0 != " " })
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// A control route (`/_sim/...`) of the simulator.
    func control(_ path: String, _ body: [String: Any]) throws {
        var request = URLRequest(url: URL(string: baseURL + "/_sim/" + path)!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (status, _) = Loopback.send(request)
        guard (200..<300).contains(status) else { throw CommandFailure("the demo's Stripe simulator refused /_sim/\(path) (\(status))") }
    }

    func side() throws -> Demo.StripeSide {
        let key: APIKey
        let configuration: StripeConfiguration
        do {
            key = try APIKey(DemoLive.stripeKey)
            configuration = try StripeConfiguration(apiKey: key, baseURL: baseURL, requestsPerSecond: 10_000, endpointRequestsPerSecond: 10_000)
        } catch {
            throw CommandFailure(error.description)
        }
        let client = StripeClient(configuration: configuration, logger: Logger(label: "tollbooth.demo", factory: { _ in SwiftLogNoOpLogHandler() }))
        return Demo.StripeSide(
            connection: StripeConnection(client: client, account: account),
            completeCheckout: { [self] session, card in try control("checkout/sessions/\(session)/complete", ["payment_method": card]) },
            failWrites: { [self] path, count in try control("faults", ["kind": "500", "method": "POST", "path": path, "count": count]) })
    }
}
