import Billing
import Foundation
import Store

/// Reads the store once, in order, and writes each sheet's rows: invoices are streamed into the
/// Invoices sheet, lines into the Lines sheet while the small aggregates (usage, tax, revenue)
/// are summed beside them; the aggregate sheets and the Summary (first in the workbook, written
/// last) follow. Sums are exact integers of minor units. Void invoices are listed but left out
/// of every total: their lines are billed again on a later invoice.
struct ReportBuilder {
    let store: any ReportSource
    let from: Instant
    let to: Instant

    // MARK: Reports

    func reconciliation(_ output: any ReportOutput) throws {
        let summary = try output.sheet(.summary)
        let invoicesSheet = try output.sheet(.invoices)
        let linesSheet = try output.sheet(.lines)
        let usageSheet = try output.sheet(.usage)
        let taxSheet = try output.sheet(.tax)
        let creditsSheet = try output.sheet(.credits)
        let differencesSheet = try output.sheet(.differences)
        let failuresSheet = try output.sheet(.failures)

        let reconciliation = try store.latestReconciliation(covering: from, to)
        let differences = try reconciliation.map { try store.differences(reconciliation: $0.id) } ?? []
        let invoices = try writeInvoices(invoicesSheet, differences: differences)
        let lines = try linePass(linesSheet)
        try writeUsage(usageSheet, lines)
        try writeTax(taxSheet, lines)
        try writeCredits(creditsSheet)
        let counts = try writeDifferences(differencesSheet, differences, invoices: invoices)
        try writeFailures(failuresSheet, invoices.failures)
        try writeSummary(summary, invoices: invoices, invoiceRows: invoicesSheet.dataRows, differenceRows: differencesSheet.dataRows,
                         reconciled: reconciliation != nil, differences: counts, lines: lines)
    }

    func invoices(_ output: any ReportOutput) throws {
        let sheet = try output.sheet(.invoices)
        let differences = try store.latestReconciliation(covering: from, to).map { try store.differences(reconciliation: $0.id) } ?? []
        _ = try writeInvoices(sheet, differences: differences)
    }

    func usage(_ output: any ReportOutput) throws {
        let sheet = try output.sheet(.usage)
        try writeUsage(sheet, try linePass(nil))
    }

    // MARK: Invoices

    /// What the invoice pass leaves for the sheets after it.
    struct InvoicePass {
        struct Totals {
            var invoices = 0
            var subtotal: Int64 = 0, tax: Int64 = 0, total: Int64 = 0
            var paid: Int64 = 0, outstanding: Int64 = 0, notIssued: Int64 = 0, failed: Int64 = 0
            var stripeTotal: Int64 = 0, difference: Int64 = 0
        }

        var currencies: [String: Currency] = [:]
        var totals: [String: Totals] = [:]
        var failures: [ReportInvoice] = []
        /// The currency and customer of the invoices the reconciliation named.
        var named: [String: ReportInvoice] = [:]
    }

    enum Standing { case paid, outstanding, notIssued, failed, settled, void }

    /// Where an invoice stands for the summary's columns.
    static func standing(_ status: InvoiceStatus) -> Standing {
        switch status {
        case .paid: return .paid
        case .issued, .paymentFailed, .uncollectible: return .outstanding
        case .draft, .rated, .taxed, .issuing: return .notIssued
        case .failed: return .failed
        case .notRequired: return .settled
        case .void: return .void
        }
    }

    func writeInvoices(_ sheet: any SheetOutput, differences: [ReconciliationDifference]) throws -> InvoicePass {
        var pass = InvoicePass()
        let named = Set(differences.compactMap(\.invoiceId))
        try store.forEachReportInvoice(billDateFrom: from, to: to) { invoice in
            let code = invoice.currency.code
            pass.currencies[code] = invoice.currency
            // Stripe's total as Stripe last reported it (finalize, collect, reconcile).
            let stripeTotal = invoice.stripeInvoiceId == nil ? nil : invoice.stripeTotal
            let difference = stripeTotal.map { $0 - invoice.total }
            try sheet.row([
                .text(invoice.id), .text(invoice.customerKey), .date(invoice.billDate), .date(invoice.periodStart),
                .date(invoice.periodEnd), .text(code), .text(invoice.status.rawValue), .money(invoice.subtotal, invoice.currency),
                .money(invoice.tax, invoice.currency), .money(invoice.total, invoice.currency), .text(invoice.stripeInvoiceId),
                .text(invoice.number), stripeTotal.map { .money($0, invoice.currency) } ?? .empty,
                difference.map { .money($0, invoice.currency) } ?? .empty, .date(invoice.paidAt),
                .text(invoice.failure.map { "\($0.stage): \($0.message)" }),
            ])
            if named.contains(invoice.id) { pass.named[invoice.id] = invoice }
            // Failed invoices, and payments that failed for a reason Tollbooth knows (a payment
            // waiting for the customer's authentication).
            if invoice.status == .failed || (invoice.status == .paymentFailed && invoice.failure != nil) { pass.failures.append(invoice) }
            var totals = pass.totals[code] ?? .init()
            defer { pass.totals[code] = totals }
            let standing = ReportBuilder.standing(invoice.status)
            guard standing != .void else { return }
            totals.invoices += 1
            totals.subtotal += invoice.subtotal
            totals.tax += invoice.tax
            totals.total += invoice.total
            totals.stripeTotal += stripeTotal ?? 0
            totals.difference += difference ?? 0
            switch standing {
            case .paid: totals.paid += invoice.total
            case .outstanding: totals.outstanding += invoice.total
            case .notIssued: totals.notIssued += invoice.total
            case .failed: totals.failed += invoice.total
            case .settled, .void: break
            }
        }
        let layout = SheetLayout.invoices
        let rows = sheet.dataRows
        let currency = layout.index("Currency"), status = layout.index("Status")
        try sheet.totals(pass.currencies.keys.sorted().map { code in
            let totals = pass.totals[code] ?? .init(), money = pass.currencies[code]!
            var cells = [Cell](repeating: .empty, count: layout.columns.count)
            cells[0] = .text("Total \(code)")
            cells[currency] = .text(code)
            for (title, value) in [("Subtotal", totals.subtotal), ("Tax", totals.tax), ("Total", totals.total),
                                   ("Stripe total", totals.stripeTotal), ("Difference", totals.difference)] {
                let column = layout.index(title)
                cells[column] = .formula(Formula.sumIfs(column, rows: rows, criteria: [(currency, code), (status, "<>void")]),
                                         cached: .money(value, money))
            }
            return cells
        })
        return pass
    }

    /// "31.20 USD", as the reconcile stage writes Stripe's side of a difference.
    // MARK: Lines

    /// The sums the line pass keeps for the sheets after it.
    struct LinePass {
        struct UsageKey: Hashable { var customer: String, currency: String, feature: String }
        struct UsageSum { var currency: Currency, quantity: Decimal = 0, billed: Int64 = 0 }
        struct TaxKey: Hashable { var currency: String, country: String?, state: String?, name: String?, rate: Decimal? }
        struct TaxSum { var currency: Currency, invoices = 0, taxable: Int64 = 0, tax: Int64 = 0 }
        struct RevenueKey: Hashable { var plan: String, currency: String }

        var usage: [UsageKey: UsageSum] = [:]
        var tax: [TaxKey: TaxSum] = [:]
        var revenue: [Instant: [RevenueKey: Int64]] = [:]
        var plans: [RevenueKey: Currency] = [:]
    }

    /// One invoice's lines summed as they stream by: lines come invoice by invoice, so the sums
    /// keyed by currency, tax rate and plan are touched once per invoice, not once per line.
    struct InvoiceSums {
        var line: ReportLine
        var amount: Int64 = 0, tax: Int64 = 0, taxable: Int64 = 0
        var plans: [(plan: String, amount: Int64)] = []

        init(_ line: ReportLine) { self.line = line }

        mutating func add(_ line: ReportLine) {
            amount += line.amount
            tax += line.tax
            // The tax base: an inclusive amount holds its tax.
            switch line.taxBehavior {
            case .exclusive: taxable += line.amount
            case .inclusive: taxable += line.amount - line.tax
            }
            let plan = line.planKey ?? "no plan"
            if let index = plans.firstIndex(where: { $0.plan == plan }) { plans[index].amount += line.amount } else { plans.append((plan, line.amount)) }
        }
    }

    /// Streams every line of the range into `sheet` (when given) and sums usage, tax and revenue.
    func linePass(_ sheet: (any SheetOutput)?) throws -> LinePass {
        var pass = LinePass()
        var totals: [String: (currency: Currency, amount: Int64, tax: Int64)] = [:]
        var invoice: InvoiceSums?

        func flush(_ sums: InvoiceSums) {
            let line = sums.line, currency = line.currency, code = currency.code
            totals[code, default: (currency, 0, 0)].amount += sums.amount
            totals[code, default: (currency, 0, 0)].tax += sums.tax
            let applied = line.appliedTax
            let taxKey = LinePass.TaxKey(currency: code, country: applied?.country, state: applied?.state, name: applied?.name, rate: applied?.rate)
            var taxSum = pass.tax[taxKey] ?? .init(currency: currency)
            taxSum.invoices += 1
            taxSum.taxable += sums.taxable
            taxSum.tax += sums.tax
            pass.tax[taxKey] = taxSum
            for (plan, amount) in sums.plans {
                let key = LinePass.RevenueKey(plan: plan, currency: code)
                pass.plans[key] = currency
                pass.revenue[line.billDate, default: [:]][key, default: 0] += amount
            }
        }

        try store.forEachReportLine(billDateFrom: from, to: to) { line in
            let currency = line.currency, code = currency.code
            if let sheet {
                try sheet.row([
                    .text(line.invoiceId), .text(line.customerKey), .date(line.billDate), .text(code), .text(line.invoiceStatus.rawValue),
                    .text(line.kind.rawValue), .text(line.planKey), .text(line.rateCardKey), .text(line.description),
                    line.quantity.map(Cell.decimal) ?? .empty, unitPrice(line).map(Cell.decimal) ?? .empty, .text(line.detail),
                    .date(line.period.start), .date(line.period.end), .money(line.amount, currency), .money(line.tax, currency),
                    .text(line.taxBehavior.rawValue),
                ])
            }
            guard line.invoiceStatus != .void else {
                if totals[code] == nil { totals[code] = (currency, 0, 0) }
                return
            }
            if invoice?.line.invoiceId != line.invoiceId {
                if let previous = invoice { flush(previous) }
                invoice = InvoiceSums(line)
            }
            invoice?.add(line)

            switch line.kind {
            case .usage, .discount, .commitment, .lateUsage:
                if let feature = line.featureKey {
                    let key = LinePass.UsageKey(customer: line.customerKey, currency: code, feature: feature)
                    pass.usage[key, default: .init(currency: currency)].billed += line.amount
                    // Late usage lines bill a difference; the quantity measured is on the usage line.
                    if line.kind == .usage, let quantity = line.quantity { pass.usage[key]!.quantity += quantity }
                }
            case .fee, .prorationCredit, .prorationCharge, .adjustment:
                break
            }
        }
        if let last = invoice { flush(last) }
        if let sheet {
            let layout = SheetLayout.lines
            let currency = layout.index("Currency"), status = layout.index("Invoice status")
            try sheet.totals(totals.keys.sorted().map { code in
                let sums = totals[code]!
                var cells = [Cell](repeating: .empty, count: layout.columns.count)
                cells[0] = .text("Total \(code)")
                cells[currency] = .text(code)
                for (title, value) in [("Amount", sums.amount), ("Tax", sums.tax)] {
                    let column = layout.index(title)
                    cells[column] = .formula(Formula.sumIfs(column, rows: sheet.dataRows, criteria: [(currency, code), (status, "<>void")]),
                                             cached: .money(value, sums.currency))
                }
                return cells
            })
        }
        return pass
    }

    /// The amount per unit, to 6 decimals, for lines that measure a quantity; the tier detail
    /// says how a tiered amount splits.
    func unitPrice(_ line: ReportLine) -> Decimal? {
        guard let quantity = line.quantity, quantity != 0 else { return nil }
        let amount = Decimal(line.amount) / Decimal(sign: .plus, exponent: line.currency.minorUnits, significand: 1)
        return (amount / quantity).rounded(scale: 6)
    }

    // MARK: Aggregates

    func writeUsage(_ sheet: any SheetOutput, _ lines: LinePass) throws {
        let meters = try store.featureMeters()
        let keys = lines.usage.keys.sorted {
            ($0.customer, $0.currency, meters[$0.feature] ?? "", $0.feature) < ($1.customer, $1.currency, meters[$1.feature] ?? "", $1.feature)
        }
        var billed: [String: (Currency, Int64)] = [:]
        for key in keys {
            let sum = lines.usage[key]!
            try sheet.row([.text(key.customer), .text(key.currency), .text(meters[key.feature]), .text(key.feature),
                           .decimal(sum.quantity), .money(sum.billed, sum.currency)])
            billed[key.currency, default: (sum.currency, 0)].1 += sum.billed
        }
        let layout = SheetLayout.usage
        try sheet.totals(perCurrency(layout, billed.mapValues { ($0.0, ["Billed amount": $0.1]) }, rows: sheet.dataRows))
    }

    func writeTax(_ sheet: any SheetOutput, _ lines: LinePass) throws {
        let keys = lines.tax.keys.sorted {
            ($0.currency, $0.country ?? "", $0.state ?? "", $0.name ?? "", $0.rate ?? -1)
                < ($1.currency, $1.country ?? "", $1.state ?? "", $1.name ?? "", $1.rate ?? -1)
        }
        var sums: [String: (Currency, [String: Int64])] = [:]
        for key in keys {
            let sum = lines.tax[key]!
            try sheet.row([.text(key.country), .text(key.state), .text(key.name ?? "no tax applied"), key.rate.map(Cell.percent) ?? .empty,
                           .text(key.currency), .integer(sum.invoices), .money(sum.taxable, sum.currency), .money(sum.tax, sum.currency)])
            var entry = sums[key.currency] ?? (sum.currency, [:])
            entry.1["Taxable amount", default: 0] += sum.taxable
            entry.1["Tax", default: 0] += sum.tax
            sums[key.currency] = entry
        }
        try sheet.totals(perCurrency(.tax, sums, rows: sheet.dataRows))
    }

    func writeCredits(_ sheet: any SheetOutput) throws {
        var order: [String] = []
        var byCustomer: [String: [ReportCredit]] = [:]
        for credit in try store.carriedCredits(at: to) {
            if byCustomer[credit.customerKey] == nil { order.append(credit.customerKey) }
            byCustomer[credit.customerKey, default: []].append(credit)
        }
        var sums: [String: (Currency, [String: Int64])] = [:]
        for customer in order {
            let credits = byCustomer[customer]!
            let balance = credits.reduce(Decimal(0)) { $0 + $1.amount }
            let oldest = credits.map(\.originBillDate).min()
            let cards = Set(credits.compactMap(\.rateCardKey)).sorted().joined(separator: ", ")
            guard let currency = credits[0].currency else {
                try sheet.row([.text(customer), .empty, .decimal(balance), .integer(credits.count), .date(oldest), .text(cards)])
                continue
            }
            let minor = Money(balance, currency).minorUnits
            try sheet.row([.text(customer), .text(currency.code), .money(minor, currency), .integer(credits.count), .date(oldest), .text(cards)])
            var entry = sums[currency.code] ?? (currency, [:])
            entry.1["Credit balance", default: 0] += minor
            sums[currency.code] = entry
        }
        try sheet.totals(perCurrency(.credits, sums, rows: sheet.dataRows))
    }

    struct DifferenceCounts {
        /// Unexplained differences per currency of their invoice.
        var unexplained: [String: Int] = [:]
        /// Differences tied to no local invoice (orphans): no currency to count them under.
        var unplaced = 0
    }

    /// Writes the differences of the range's invoices and those tied to no local invoice.
    func writeDifferences(_ sheet: any SheetOutput, _ differences: [ReconciliationDifference], invoices: InvoicePass) throws -> DifferenceCounts {
        var counts = DifferenceCounts()
        for difference in differences {
            let invoice = difference.invoiceId.flatMap { invoices.named[$0] }
            if difference.invoiceId != nil, invoice == nil { continue }
            if let invoice {
                if difference.kind.isUnexplained { counts.unexplained[invoice.currency.code, default: 0] += 1 }
            } else {
                counts.unplaced += 1
            }
            try sheet.row([.text(difference.invoiceId), .text(difference.customerKey ?? invoice?.customerKey), .text(invoice?.currency.code),
                           .text(difference.stripeInvoiceId), .text(difference.kind.rawValue), .text(difference.local), .text(difference.stripe),
                           .text(difference.kind.isUnexplained ? "no" : "yes"), .text(difference.detail)])
        }
        return counts
    }

    func writeFailures(_ sheet: any SheetOutput, _ failures: [ReportInvoice]) throws {
        var sums: [String: (Currency, [String: Int64])] = [:]
        for invoice in failures {
            try sheet.row([.text(invoice.id), .text(invoice.customerKey), .date(invoice.billDate), .text(invoice.currency.code),
                           .money(invoice.total, invoice.currency), .text(invoice.failure?.stage), .text(invoice.failure?.message),
                           .text(invoice.failure?.stripeRequestId),
                           .text(invoice.status == .failed ? "tollbooth rerun \(invoice.id)" : "the customer confirms the payment on the hosted invoice page")])
            var entry = sums[invoice.currency.code] ?? (invoice.currency, [:])
            entry.1["Total", default: 0] += invoice.total
            sums[invoice.currency.code] = entry
        }
        try sheet.totals(perCurrency(.failures, sums, rows: sheet.dataRows))
    }

    /// One totals row per currency: a SUMIF over the data rows of that currency per column.
    func perCurrency(_ layout: SheetLayout, _ sums: [String: (Currency, [String: Int64])], rows: Int) -> [[Cell]] {
        let currency = layout.index("Currency")
        return sums.keys.sorted().map { code in
            let (money, values) = sums[code]!
            var cells = [Cell](repeating: .empty, count: layout.columns.count)
            cells[0] = .text("Total \(code)")
            cells[currency] = .text(code)
            for (title, value) in values {
                let column = layout.index(title)
                cells[column] = .formula(Formula.sumIfs(column, rows: rows, criteria: [(currency, code)]), cached: .money(value, money))
            }
            return cells
        }
    }

    // MARK: Summary

    func writeSummary(_ sheet: any SheetOutput, invoices: InvoicePass, invoiceRows: Int, differenceRows: Int, reconciled: Bool,
                      differences: DifferenceCounts, lines: LinePass) throws {
        let inv = SheetLayout.invoices, diff = SheetLayout.differences
        let currency = inv.index("Currency"), status = inv.index("Status")
        for code in invoices.currencies.keys.sorted() {
            let money = invoices.currencies[code]!, totals = invoices.totals[code] ?? .init()
            func sum(_ title: String, _ statuses: [String], _ value: Int64) -> Cell {
                let column = inv.index(title)
                let parts = statuses.map {
                    Formula.sumIfs(column, rows: invoiceRows, criteria: [(currency, code), (status, $0)], sheet: inv.name)
                }
                return .formula(parts.joined(separator: "+"), cached: .money(value, money))
            }
            try sheet.row([
                .text(code),
                .formula(Formula.countIfs(rows: invoiceRows, criteria: [(currency, code), (status, "<>void")], sheet: inv.name),
                         cached: .integer(totals.invoices)),
                sum("Subtotal", ["<>void"], totals.subtotal), sum("Tax", ["<>void"], totals.tax), sum("Total", ["<>void"], totals.total),
                sum("Total", ["paid"], totals.paid), sum("Total", ["issued", "payment_failed", "uncollectible"], totals.outstanding),
                sum("Total", ["draft", "rated", "taxed", "issuing"], totals.notIssued), sum("Total", ["failed"], totals.failed),
                .formula(Formula.countIfs(rows: differenceRows, criteria: [(diff.index("Currency"), code), (diff.index("Explained"), "no")],
                                          sheet: diff.name),
                         cached: .integer(differences.unexplained[code] ?? 0)),
            ])
        }
        try sheet.note("Bill dates from \(from.rfc3339) up to \(to.rfc3339) (not included). Void invoices are listed but left out of every total.")
        if !reconciled {
            try sheet.note("No finished reconciliation covers these bill dates: Stripe totals are those the issue stage checked, and there are no differences to show.")
        }
        if differences.unplaced > 0 {
            try sheet.note("\(differences.unplaced) Stripe invoices name no Tollbooth invoice: see the Differences sheet.")
        }
        let plans = lines.plans.keys.sorted { ($0.plan, $0.currency) < ($1.plan, $1.currency) }
        try sheet.chart(SheetChart(
            titles: .revenue, header: ["Bill date"] + plans.map { "\($0.plan) (\($0.currency))" },
            rows: lines.revenue.keys.sorted().map { date in
                [.date(date)] + plans.map { plan in lines.revenue[date]?[plan].map { .money($0, lines.plans[plan]!) } ?? .empty }
            }))
    }
}

/// Formulas over a sheet's data rows (rows 2 to 1 + count, absolute so they survive copying).
enum Formula {
    static func range(_ column: Int, rows: Int, sheet: String?) -> String {
        let name = columnName(column)
        let prefix = sheet.map { "'\($0)'!" } ?? ""
        return "\(prefix)$\(name)$2:$\(name)$\(max(2, rows + 1))"
    }

    static func criteria(_ criteria: [(Int, String)], rows: Int, sheet: String?) -> String {
        criteria.map { "\(range($0.0, rows: rows, sheet: sheet)),\"\($0.1)\"" }.joined(separator: ",")
    }

    static func sumIfs(_ column: Int, rows: Int, criteria: [(Int, String)], sheet: String? = nil) -> String {
        "SUMIFS(\(range(column, rows: rows, sheet: sheet)),\(self.criteria(criteria, rows: rows, sheet: sheet)))"
    }

    static func countIfs(rows: Int, criteria: [(Int, String)], sheet: String?) -> String {
        "COUNTIFS(\(self.criteria(criteria, rows: rows, sheet: sheet)))"
    }

    /// "A", "B", ... "Z", "AA": a column's letters in A1 references.
    static func columnName(_ index: Int) -> String {
        var index = index + 1
        var name = ""
        while index > 0 {
            let remainder = (index - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + remainder))) + name
            index = (index - 1) / 26
        }
        return name
    }
}
