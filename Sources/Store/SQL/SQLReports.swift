import Billing
import Foundation

extension SQLRepositories {
    /// Streams the invoices whose bill date is in `[from, to)`, by bill date then customer.
    public func forEachReportInvoice(billDateFrom from: Instant, to: Instant, _ body: (ReportInvoice) throws -> Void) throws {
        let statement = try connection.statement("""
            SELECT id, customer_key, currency, bill_date, period_start, period_end, status, subtotal, tax, total, stripe_invoice_id,
                   number, paid_at, \(Self.failureColumns), stripe_total
            FROM invoices WHERE bill_date >= ? AND bill_date < ? ORDER BY bill_date, customer_key
            """)
        try statement.bind([from.sql, to.sql])
        while let row = try statement.next() {
            let id = row.string(0) ?? ""
            let currency = Currency(code: row.string(2) ?? "") ?? .usd
            try body(ReportInvoice(
                id: id, customerKey: row.string(1) ?? "", currency: currency, billDate: row.instant(3) ?? from,
                periodStart: row.instant(4), periodEnd: row.instant(5), status: InvoiceStatus(rawValue: row.string(6) ?? "") ?? .draft,
                subtotal: try ExactText.minorUnits(row.string(7), currency, what: "subtotal of \(id)"),
                tax: try ExactText.minorUnits(row.string(8), currency, what: "tax of \(id)"),
                total: try ExactText.minorUnits(row.string(9), currency, what: "total of \(id)"),
                stripeInvoiceId: row.string(10), stripeTotal: row.int(16), number: row.string(11), paidAt: row.instant(12),
                failure: row.string(13).map { StoredInvoice.Failure(stage: $0, message: row.string(14) ?? "", stripeRequestId: row.string(15)) }))
        }
    }

    /// Streams the lines of the invoices whose bill date is in `[from, to)`, in the order of
    /// `forEachReportInvoice`, each invoice's lines in their order. Lines are read invoice by
    /// invoice through the (invoice, position) index: one query over all lines would sort every
    /// line of the range in a temporary B-tree.
    public func forEachReportLine(billDateFrom from: Instant, to: Instant, _ body: (ReportLine) throws -> Void) throws {
        let invoices = try connection.statement("""
            SELECT id, status, customer_key, bill_date, currency, tax_rate, tax_rate_name, tax_country, tax_state
            FROM invoices WHERE bill_date >= ? AND bill_date < ? ORDER BY bill_date, customer_key
            """)
        let lines = try connection.statement("""
            SELECT l.id, l.kind, s.plan_key, l.rate_card_key, l.feature_key, l.description, l.period_start, l.period_end, l.quantity,
                   l.amount, l.tax_amount, l.tax_behavior, l.detail
            FROM invoice_lines l LEFT JOIN subscriptions s ON s.id = l.subscription_id WHERE l.invoice_id = ? ORDER BY l.position
            """)
        try invoices.bind([from.sql, to.sql])
        var currencies: [String: Currency] = [:]
        while let invoice = try invoices.next() {
            let invoiceId = invoice.string(0) ?? ""
            let status = InvoiceStatus(rawValue: invoice.string(1) ?? "") ?? .draft
            let customerKey = invoice.string(2) ?? "", billDate = invoice.instant(3) ?? from
            let code = invoice.string(4) ?? ""
            let currency: Currency
            if let known = currencies[code] { currency = known } else {
                currency = Currency(code: code) ?? .usd
                currencies[code] = currency
            }
            let appliedTax = try invoice.string(5).map {
                AppliedTax(rate: try ExactText.decimal($0, what: "tax rate of \(invoiceId)"), name: invoice.string(6) ?? "",
                           country: invoice.string(7), state: invoice.string(8))
            }
            try lines.bind([.text(invoiceId)])
            while let row = try lines.next() {
                let id = row.string(0) ?? ""
                try body(ReportLine(
                    id: id, invoiceId: invoiceId, invoiceStatus: status, customerKey: customerKey, billDate: billDate, currency: currency,
                    kind: LineKind(rawValue: row.string(1) ?? "") ?? .adjustment, planKey: row.string(2), rateCardKey: row.string(3),
                    featureKey: row.string(4), description: row.string(5) ?? "",
                    period: Period(start: row.instant(6) ?? from, end: row.instant(7) ?? from),
                    quantity: try row.string(8).map { try ExactText.decimal($0, what: "quantity of line \(id)") },
                    amount: try ExactText.minorUnits(row.string(9), currency, what: "amount of line \(id)"),
                    tax: try ExactText.minorUnits(row.string(10), currency, what: "tax of line \(id)"),
                    taxBehavior: TaxBehavior(rawValue: row.string(11) ?? "") ?? .exclusive, detail: row.string(12) ?? "",
                    appliedTax: appliedTax))
            }
        }
    }

    /// The meter of every feature that has one.
    public func featureMeters() throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try connection.query("SELECT key, meter_slug FROM features WHERE meter_slug IS NOT NULL") {
            result[row.string(0) ?? ""] = row.string(1)
        }
        return result
    }

    /// The credits carried past `to`: made by an invoice billed before `to` and not taken by
    /// one billed before `to`. Ordered by customer, then as they were carried.
    public func carriedCredits(at to: Instant) throws -> [ReportCredit] {
        try connection.query("""
            SELECT c.customer_key, coalesce(cu.currency, (SELECT i.currency FROM invoices i WHERE i.customer_key = c.customer_key
                                                          ORDER BY i.bill_date DESC LIMIT 1)),
                   c.kind, c.rate_card_key, c.description, c.amount, c.origin_bill_date
            FROM carried_credits c JOIN customers cu ON cu.key = c.customer_key
            WHERE c.created_bill_date < ? AND (c.consumed_bill_date IS NULL OR c.consumed_bill_date >= ?)
            ORDER BY c.customer_key, c.id
            """, [to.sql, to.sql]).map { row in
            ReportCredit(customerKey: row.string(0) ?? "", currency: row.string(1).flatMap { Currency(code: $0) },
                         kind: LineKind(rawValue: row.string(2) ?? "") ?? .prorationCredit, rateCardKey: row.string(3),
                         description: row.string(4) ?? "", amount: try ExactText.decimal(row.string(5) ?? "", what: "carried credit"),
                         originBillDate: row.instant(6) ?? to)
        }
    }
}

/// Reads stored decimal text exactly without going through a locale-aware parser: a million
/// lines are read per report, and `Decimal(string:locale:)` would dominate the time.
enum ExactText {
    /// The digits of a plain decimal ("-12.5") as an integer and its number of decimals; nil when
    /// it is not one or has more than 18 digits.
    static func parse(_ text: String) -> (value: Int64, decimals: Int)? {
        var value: Int64 = 0, decimals = 0, digits = 0, negative = false, seenPoint = false
        for (index, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "-") where index == 0: negative = true
            case UInt8(ascii: "+") where index == 0: continue
            case UInt8(ascii: ".") where !seenPoint: seenPoint = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits += 1
                guard digits <= 18 else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                if seenPoint { decimals += 1 }
            default: return nil
            }
        }
        guard digits > 0 else { return nil }
        return (negative ? -value : value, decimals)
    }

    static func decimal(_ text: String, what: @autoclosure () -> String) throws -> Decimal {
        if let (value, decimals) = parse(text) {
            return Decimal(sign: value < 0 ? .minus : .plus, exponent: -decimals, significand: Decimal(value.magnitude))
        }
        guard let decimal = Decimal(exactly: text) else { throw ReportAmountError(.notADecimal, text: text, description: "the \(what()) is not a decimal: \(text)") }
        return decimal
    }

    /// The amount in the currency's minor units; refused when it has more decimals than the
    /// currency (every stored amount is rounded to its billing scale).
    static func minorUnits(_ text: String?, _ currency: Currency, what: @autoclosure () -> String) throws -> Int64 {
        guard let text else { return 0 }
        guard let (value, decimals) = parse(text), decimals <= currency.minorUnits else {
            throw ReportAmountError(.notAnAmount, text: text, description: "the \(what()) is not an amount in \(currency.code): \(text)")
        }
        var result = value
        for _ in decimals..<currency.minorUnits {
            let (scaled, overflow) = result.multipliedReportingOverflow(by: 10)
            guard !overflow else { throw ReportAmountError(.tooLarge, text: text, description: "the \(what()) is too large: \(text)") }
            result = scaled
        }
        return result
    }
}
