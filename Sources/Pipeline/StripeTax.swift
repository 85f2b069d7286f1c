import Billing
import Foundation
import Logging
import Store
import Stripe

/// `tax.provider: stripe`: each invoice's tax from a Stripe Tax Calculation, written onto its
/// lines; once the invoice is issued, a Tax Transaction records it.
///
/// Stripe Tax prices non-negative amounts, so a credit line is sent as its absolute amount and
/// its tax comes back negated: tax is symmetric under both rules (exclusive round(a x r),
/// inclusive a - round(a / (1 + r)), rounding half away from zero).
struct StripeTax {
    let stripe: StripeClient

    struct Result {
        /// The tax of each line, in line order.
        var taxes: [Decimal]
        var calculationId: String?
        /// The rate to describe on Stripe's invoice lines: the breakdown's first taxed rate.
        var applied: AppliedTax?
    }

    func calculate(_ invoice: StoredInvoice, customer: Customer, generation: Int) throws -> Result {
        let currency = invoice.currency
        let priced = invoice.lines.filter { $0.line.amount != 0 }
        guard !priced.isEmpty else { return Result(taxes: invoice.lines.map { _ in 0 }, calculationId: nil, applied: nil) }
        let address = customer.billingAddress
        let details = TaxCustomerDetails(
            address: Address(line1: address.line1, city: address.city, state: address.state, postalCode: address.postalCode, country: address.country),
            taxIds: customer.taxIds.map { TaxID(type: $0.type, value: $0.value) },
            taxabilityOverride: StripeTax.override(customer.taxExempt))
        let lines = priced.map { stored in
            TaxCalculationCreate.Line(amount: abs(Money(stored.line.amount, currency).minorUnits), reference: stored.id,
                                      taxBehavior: stored.line.taxBehavior == .inclusive ? .inclusive : .exclusive,
                                      taxCode: stored.line.taxCode)
        }
        let calculation = try stripe.createTaxCalculation(
            TaxCalculationCreate(currency: currency, customerDetails: details, lineItems: lines, taxDate: invoice.billDate.seconds,
                                 expandLineItems: true),
            idempotencyKey: IdempotencyKeys(generation: generation).key("tax-calculation", invoice.id))
        var items = calculation.lineItems?.data ?? []
        if let id = calculation.id, calculation.lineItems?.hasMore ?? true {
            items = []
            var page = Page(limit: 100)
            while true {
                let list = try stripe.listTaxCalculationLineItems(calculation: id, page)
                items += list.data
                guard list.hasMore, let last = list.data.last else { break }
                page.startingAfter = last.id
            }
        }
        let taxByReference = Dictionary(items.map { ($0.reference, $0.amountTax) }, uniquingKeysWith: { first, _ in first })
        var taxes: [Decimal] = []
        for stored in invoice.lines {
            guard stored.line.amount != 0 else { taxes.append(0); continue }
            guard let minor = taxByReference[stored.id] else {
                throw StripeMappingError("Stripe's tax calculation \(calculation.id ?? "") has no line for \(stored.id)")
            }
            let tax = Money(minorUnits: minor, currency).amount
            taxes.append(stored.line.amount < 0 ? -tax : tax)
        }
        let rate = calculation.taxBreakdown.first { $0.amount != 0 }?.taxRateDetails
        let applied = rate.flatMap { details in
            Decimal(exactly: details.percentageDecimal).map {
                AppliedTax(rate: $0 / 100, name: StripeTax.name(details.taxType), country: details.country, state: details.state)
            }
        }
        return Result(taxes: taxes, calculationId: calculation.id, applied: applied)
    }

    static func override(_ exemption: TaxExemption) -> TaxCustomerDetails.TaxabilityOverride {
        switch exemption {
        case .none: return .none
        case .exempt: return .customerExempt
        case .reverse: return .reverseCharge
        }
    }

    /// "sales_tax" -> "Sales tax", "vat" -> "VAT": what Stripe's invoice shows beside the amount.
    static func name(_ taxType: String?) -> String {
        guard let taxType, !taxType.isEmpty else { return "Tax" }
        if ["vat", "gst", "hst", "pst", "qst", "rst", "jct", "igst", "cgst", "sgst"].contains(taxType) { return taxType.uppercased() }
        let words = taxType.replacingOccurrences(of: "_", with: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }

    /// Records the Tax Transaction of an issued invoice's calculation (its reference: the
    /// invoice id). Idempotent by key, so a re-run after a crash records it once.
    func recordTransaction(_ invoice: StoredInvoice, store: any Store) throws {
        guard let calculation = invoice.taxCalculationId, invoice.taxTransactionId == nil else { return }
        let transaction = try stripe.createTaxTransaction(TaxTransactionCreate(calculation: calculation, reference: invoice.id),
                                                          idempotencyKey: "tollbooth-tax-transaction-\(invoice.id)")
        try store.recordTaxTransaction(invoiceId: invoice.id, transactionId: transaction.id)
    }

    /// A Tax Transaction for every issued invoice taxed by a Stripe Tax Calculation that has
    /// none yet: the invoices issued now, and any an earlier run could not record. A failure
    /// leaves it for the next run; the invoice stays issued.
    func recordPendingTransactions(store: any Store, logger: Logger) throws -> (recorded: Int, errors: [String]) {
        var recorded = 0
        var errors: [String] = []
        for invoice in try store.invoicesAwaitingTaxTransaction() {
            do {
                try recordTransaction(invoice, store: store)
                recorded += 1
            } catch let error as StripeError {
                errors.append("\(invoice.id): tax transaction: \(error.description)")
                logger.warning("tax transaction not recorded", metadata: ["invoice.id": "\(invoice.id)", "stripe.request_id": "\(error.requestId ?? "")"])
            }
        }
        return (recorded, errors)
    }
}
