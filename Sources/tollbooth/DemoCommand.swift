import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "A complete bill run on built-in sample data, in a fresh database.",
        discussion: """
            Creates a database in a new temporary folder (or at --db, which must not exist yet), \
            loads a sample catalog (Starter, Pro with graduated tiers, Enterprise with a minimum \
            commitment, Team with a free trial), three dozen customers in twelve places, their \
            October 2026 subscriptions with an upgrade, a downgrade and a cancellation, a month of \
            usage, and runs the bill run as of 2026-11-01T02:00:00Z. Prints the invoices and writes \
            them as CSV next to the database.
            """)

    @Option(help: ArgumentHelp("Where to create the demo database (must not exist).", valueName: "path")) var db: String?

    func run() throws {
        let path: String
        if let db {
            guard !FileManager.default.fileExists(atPath: db) else {
                throw InputError("\(db) already exists: the demo needs a fresh database; give a new path or leave out --db")
            }
            path = db
        } else {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-demo-\(UUID().uuidString.prefix(8).lowercased())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            path = folder.appendingPathComponent("tollbooth.db").path
        }
        let store = try Store(path: path)
        let result = try Demo.run(store: store, progress: { printError($0) })
        for stage in result.run.stages { printError("\(stage.stage.rawValue): \(stage.message)") }

        let invoices = try store.invoices()
        var table = Table([.init(title: "INVOICE"), .init(title: "CUSTOMER"), .init(title: "BILL DATE"), .init(title: "LINES", alignment: .right),
                           .init(title: "SUBTOTAL", alignment: .right), .init(title: "TAX", alignment: .right),
                           .init(title: "TOTAL", alignment: .right), .init(title: "STATUS")])
        var total: Decimal = 0, tax: Decimal = 0
        for invoice in invoices {
            func money(_ amount: Decimal) -> String { Money(amount, invoice.currency).formatted }
            table.append([invoice.id, invoice.customerKey, String(invoice.billDate.rfc3339.prefix(10)), String(invoice.lines.count),
                          money(invoice.subtotal), money(invoice.tax), money(invoice.total), invoice.status.rawValue])
            total += invoice.total
            tax += invoice.tax
        }
        table.append(["Total", "", "", "", "", Money(tax, .usd).formatted, Money(total, .usd).formatted, ""])
        printOut(table.rendered)

        let csvPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("invoices.csv").path
        let csv = CSV.render(header: InvoicesCommand.csvHeader, rows: invoices.map(InvoicesCommand.csvRow))
        guard FileManager.default.createFile(atPath: csvPath, contents: Data(csv.utf8)) else {
            throw CommandFailure("cannot write \(csvPath)")
        }
        printOut("""

            \(invoices.count) invoices for \(result.subscriptions) subscriptions; \(result.ingest.accepted) usage events metered.
            Database:   \(path)
            CSV export: \(csvPath)
            Look closer: \(CommandLine.arguments[0]) --db \(path) invoices show inv_acme_20261101
            """)
    }
}
