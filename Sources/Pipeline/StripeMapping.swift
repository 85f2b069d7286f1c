import Billing
import Foundation
import Store
import Stripe

/// How Tollbooth's customers, invoices and lines become Stripe's request parameters. The
/// metadata keys tie every Stripe object to the local row it stands for, so a later run can
/// find it again after Stripe has forgotten the idempotency keys.
enum StripeMapping {
    static let customerKey = "tollbooth_customer"
    static let invoiceKey = "tollbooth_invoice"
    static let lineKey = "tollbooth_line"

    static func customer(_ customer: Customer) -> CustomerCreate {
        let address = customer.billingAddress
        let hasAddress = [address.country, address.postalCode, address.state, address.city, address.line1].contains { $0 != nil }
        return CustomerCreate(
            name: customer.name, email: customer.email,
            address: hasAddress ? Address(line1: address.line1, city: address.city, state: address.state,
                                          postalCode: address.postalCode, country: address.country) : nil,
            taxExempt: taxExempt(customer.taxExempt),
            taxIds: customer.taxIds.isEmpty ? nil : customer.taxIds.map { TaxID(type: $0.type, value: $0.value) },
            metadata: [customerKey: customer.key])
    }

    /// The same details as an update of an existing Stripe Customer. Tax ids are only given at
    /// creation (Stripe keeps them as objects of their own); a changed address or exemption is
    /// what tax depends on.
    static func update(_ details: CustomerCreate) -> CustomerUpdate {
        CustomerUpdate(name: details.name, email: details.email, address: details.address, taxExempt: details.taxExempt,
                       metadata: details.metadata)
    }

    static func taxExempt(_ exemption: TaxExemption) -> TaxExempt {
        switch exemption {
        case .none: return .none
        case .exempt: return .exempt
        case .reverse: return .reverse
        }
    }

    static func invoice(_ invoice: StoredInvoice, customerId: String) -> InvoiceCreate {
        var description = "API usage billed \(day(invoice.billDate, withYear: true))"
        if let start = invoice.periodStart, let end = invoice.periodEnd {
            description = "API usage \(span(start, end))"
        }
        if let note = invoice.taxNote { description += "; \(note)" }
        return InvoiceCreate(customer: customerId, currency: invoice.currency, autoAdvance: false,
                             collectionMethod: .chargeAutomatically, description: description, pendingInvoiceItems: .exclude,
                             metadata: [invoiceKey: invoice.id])
    }

    /// A line as `add_lines` takes it: amount, description, service period, the line and invoice
    /// ids in metadata, and its tax (a line that carries tax needs the rate recorded for it).
    static func addedLine(_ line: StoredLine, of invoice: StoredInvoice, tax: AppliedTax?) throws -> InvoiceLinesAdd.Line {
        var taxAmounts: [TaxAmount]?
        if line.line.taxAmount != 0 {
            guard let tax else { throw StripeMappingError("invoice \(invoice.id) carries tax but no rate is recorded for it") }
            taxAmounts = [taxAmount(line.line, tax: tax, currency: invoice.currency)]
        }
        return InvoiceLinesAdd.Line(amount: Money(line.line.amount, invoice.currency).minorUnits, description: description(line.line),
                                    period: StripePeriod(start: line.line.period.start.seconds, end: line.line.period.end.seconds),
                                    metadata: [lineKey: line.id, invoiceKey: invoice.id], taxAmounts: taxAmounts)
    }

    /// What a customer reads on the Stripe invoice: "API calls: 12,345 x 0.002 (1 Nov - 30 Nov 2026)".
    static func description(_ line: InvoiceLine) -> String {
        let text = line.detail.isEmpty ? line.description : "\(line.description): \(line.detail)"
        return "\(text) (\(span(line.period.start, line.period.end)))"
    }

    /// A service period as a customer reads it: its first and last day ("1 Nov - 30 Nov 2026").
    static func span(_ start: Instant, _ end: Instant) -> String {
        let last = Instant(seconds: max(start.seconds, end.seconds - 1))
        if start.civil.year == last.civil.year && start.civil.month == last.civil.month && start.civil.day == last.civil.day {
            return day(start, withYear: true)
        }
        return "\(day(start, withYear: start.civil.year != last.civil.year)) - \(day(last, withYear: true))"
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func day(_ instant: Instant, withYear: Bool) -> String {
        let c = instant.civil
        return "\(c.day) \(months[c.month - 1])" + (withYear ? " \(c.year)" : "")
    }

    /// The line's tax as Stripe's `tax_amounts` entry. The taxable amount is the line's amount
    /// without tax: the amount itself when exclusive, less the tax when inclusive.
    static func taxAmount(_ line: InvoiceLine, tax: AppliedTax, currency: Currency) -> TaxAmount {
        let inclusive = line.taxBehavior == .inclusive
        let taxable = inclusive ? line.amount - line.taxAmount : line.amount
        return TaxAmount(amount: Money(line.taxAmount, currency).minorUnits, taxableAmount: Money(taxable, currency).minorUnits,
                         rate: TaxRateData(displayName: tax.name.isEmpty ? "Tax" : tax.name, inclusive: inclusive,
                                           percentage: tax.rate * 100, country: tax.country, state: tax.state),
                         taxabilityReason: "standard_rated")
    }
}
