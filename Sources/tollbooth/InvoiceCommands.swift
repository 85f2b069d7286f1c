import ArgumentParser
import Billing
import Foundation
import Pipeline
import Reports
import Store

struct InvoicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoices",
        abstract: "List, show and preview invoices.",
        discussion: """
            Amounts in JSONValue and CSV are decimal strings in major units with the currency's \
            decimals ("12.30", JPY "500"); times are RFC 3339.
            """,
        subcommands: [List.self, Show.self, Preview.self, VoidInvoice.self])

    /// A `--status` value: one of the invoice states.
    static func status(_ text: String) throws -> InvoiceStatus {
        guard let status = InvoiceStatus(rawValue: text) else {
            throw ValidationError("not an invoice status: \(text) (one of \(InvoiceStatus.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return status
    }
}

extension InvoicesCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List invoices by bill date, then customer.",
            discussion: "--format csv writes one row per invoice (RFC 4180, CRLF line ends) with a header row.")

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("Only invoices in this status.", valueName: "status"), transform: InvoicesCommand.status)
        var status: InvoiceStatus?
        @Option(help: "Output format.") var format: ExportFormat = .table

        func run() throws {
            let store = try options.context().store
            switch format {
            case .json:
                printOut(InvoiceJSON.invoices(try store.invoices(status: status, withLines: true)).rendered)
            case .csv:
                let invoices = try store.invoices(status: status, withLines: false)
                writeOut(CSV.render(header: InvoicesCommand.csvHeader, rows: invoices.map(InvoicesCommand.csvRow)))
            case .table:
                var table = Table([.init(title: "ID"), .init(title: "CUSTOMER"), .init(title: "BILL DATE"), .init(title: "STATUS"),
                                   .init(title: "CURRENCY"), .init(title: "SUBTOTAL", alignment: .right),
                                   .init(title: "TAX", alignment: .right), .init(title: "TOTAL", alignment: .right)])
                let invoices = try store.invoices(status: status, withLines: false)
                // Failed invoices say why, so the list is what an operator acts on.
                let reasons = invoices.contains { $0.failure != nil }
                if reasons { table.columns.append(.init(title: "REASON")) }
                for invoice in invoices {
                    func money(_ amount: Decimal) -> String { Money(amount, invoice.currency).formatted }
                    var row = [invoice.id, invoice.customerKey, invoice.billDate.rfc3339, invoice.status.rawValue,
                               invoice.currency.code, money(invoice.subtotal), money(invoice.tax), money(invoice.total)]
                    if reasons { row.append(invoice.failure.map { "\($0.stage): \($0.message)" } ?? "") }
                    table.append(row)
                }
                printOut(table.rendered)
            }
        }
    }

    static let csvHeader = ["id", "customerKey", "currency", "billDate", "periodStart", "periodEnd", "status",
                            "subtotal", "tax", "total", "stripeInvoiceId", "number", "hostedInvoiceUrl", "failureStage", "failureMessage"]

    static func csvRow(_ invoice: StoredInvoice) -> [String] {
        func money(_ amount: Decimal) -> String { Money(amount, invoice.currency).formatted }
        return [invoice.id, invoice.customerKey, invoice.currency.code, invoice.billDate.rfc3339,
                invoice.periodStart?.rfc3339 ?? "", invoice.periodEnd?.rfc3339 ?? "", invoice.status.rawValue,
                money(invoice.subtotal), money(invoice.tax), money(invoice.total), invoice.stripeInvoiceId ?? "",
                invoice.number ?? "", invoice.hostedInvoiceUrl ?? "", invoice.failure?.stage ?? "", invoice.failure?.message ?? ""]
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one invoice with its lines.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The invoice's id (inv_<customer>_<date>).", valueName: "id")) var id: String
        @Option(help: "Output format.") var format: Format = .table

        func run() throws {
            guard let invoice = try options.context().store.invoice(id: id) else {
                throw InputError("no invoice \(id): `tollbooth invoices list` shows the ids")
            }
            switch format {
            case .json: printOut(InvoiceJSON.invoice(invoice).rendered)
            case .table: printOut(InvoicesCommand.describe(invoice))
            }
        }
    }

    struct VoidInvoice: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "void",
            abstract: "Void an issued, unpaid invoice (in Stripe too); its lines are billed again.",
            discussion: """
                Voids the Stripe invoice (and reverses its Stripe Tax Transaction, if any), then \
                marks the invoice void with the reason. Its lines are billed again, taxed afresh, \
                on the customer's first invoice for a bill date at or after now. A paid invoice \
                is refunded in Stripe, not voided.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The invoice's id.", valueName: "id")) var id: String
        @Option(help: ArgumentHelp("Why it is voided (kept with the invoice).", valueName: "text")) var reason: String

        func validate() throws {
            if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why the invoice is voided") }
        }

        func run() throws {
            let context = try options.context()
            let voider = InvoiceVoider(store: context.store, stripe: try StripeCommand.connection(options), now: context.now)
            try voider.void(invoiceId: id, reason: reason)
            printOut("voided \(id); its lines are billed again on the customer's next invoice")
        }
    }

    struct Preview: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a customer's next invoice as it stands now; nothing is stored.",
            discussion: "The invoice of the customer's next bill date after --at, rated with the usage stored so far and taxed.")

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("The customer's key.", valueName: "key")) var customer: String
        @Option(help: "Output format.") var format: Format = .table

        func run() throws {
            let context = try options.context()
            guard try context.store.customer(key: customer) != nil else { throw InputError("no customer \(customer)") }
            guard let draft = try BillRun(store: context.store, settings: context.settings).preview(customerKey: customer, at: context.now) else {
                throw InputError("customer \(customer) has no bill date after \(context.now.rfc3339): no subscription in service")
            }
            let invoice = StoredInvoice(preview: draft)
            switch format {
            case .json: printOut(InvoiceJSON.invoice(invoice).rendered)
            case .table: printOut(InvoicesCommand.describe(invoice))
            }
        }
    }

    /// What Stripe said of the payment, with the time each change happened.
    static func paymentFacts(_ invoice: StoredInvoice) -> [(String, String)] {
        let payment = invoice.payment
        var facts: [(String, String)] = []
        if let paid = payment.paidAt { facts.append(("Paid at", paid.rfc3339)) }
        if payment.attemptCount > 0, invoice.status != .paid {
            var text = "\(payment.attemptCount) payment attempt\(payment.attemptCount == 1 ? "" : "s") failed"
            if let first = payment.paymentFailedAt { text += ", the first seen \(first.rfc3339)" }
            if let next = payment.nextPaymentAttempt { text += "; next attempt \(next.rfc3339)" }
            facts.append(("Payment", text))
        }
        if let at = payment.uncollectibleAt { facts.append(("Uncollectible", at.rfc3339)) }
        if let at = payment.voidedAt { facts.append(("Voided at", at.rfc3339 + (invoice.voidReason.map { ": \($0)" } ?? ""))) }
        if let at = payment.collectedAt { facts.append(("Checked", "\(at.rfc3339) (Stripe status \(payment.stripeStatus ?? "unknown"))")) }
        return facts
    }

    static func describe(_ invoice: StoredInvoice) -> String {
        func money(_ amount: Decimal) -> String { Money(amount, invoice.currency).formatted }
        var facts = [
            ("Invoice", invoice.id),
            ("Customer", invoice.customerKey),
            ("Status", invoice.status.rawValue),
            ("Bill date", invoice.billDate.rfc3339),
        ]
        if let start = invoice.periodStart, let end = invoice.periodEnd { facts.append(("Period", "\(start.rfc3339) to \(end.rfc3339)")) }
        if let number = invoice.number { facts.append(("Number", number)) }
        if let stripe = invoice.stripeInvoiceId { facts.append(("Stripe invoice", stripe)) }
        if let url = invoice.hostedInvoiceUrl { facts.append(("Hosted page", url)) }
        if let pdf = invoice.invoicePdf { facts.append(("PDF", pdf)) }
        facts += InvoicesCommand.paymentFacts(invoice)
        if let note = invoice.taxNote { facts.append(("Tax note", note)) }
        if let failure = invoice.failure {
            facts.append(("Failed at", failure.stage + ": " + failure.message + (failure.stripeRequestId.map { " (Stripe request \($0))" } ?? "")))
        }
        let width = facts.map(\.0.count).max() ?? 0
        let header = facts.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }

        var lines = Table([.init(title: "KIND"), .init(title: "DESCRIPTION"), .init(title: "PERIOD START"), .init(title: "PERIOD END"),
                           .init(title: "QUANTITY", alignment: .right), .init(title: "AMOUNT", alignment: .right),
                           .init(title: "TAX", alignment: .right)])
        for stored in invoice.lines {
            let line = stored.line
            lines.append([line.kind.rawValue, line.description, line.period.start.rfc3339, line.period.end.rfc3339,
                          line.quantity?.plainString ?? "", money(line.amount), money(line.taxAmount)])
        }
        var totals = Table([.init(title: ""), .init(title: invoice.currency.code, alignment: .right)])
        totals.append(["Subtotal", money(invoice.subtotal)])
        totals.append(["Tax", money(invoice.tax)])
        totals.append(["Total", money(invoice.total)])
        return (header + ["", lines.rendered, "", totals.rendered]).joined(separator: "\n")
    }
}
