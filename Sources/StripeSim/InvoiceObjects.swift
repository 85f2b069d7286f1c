/// One tax amount on an invoice line, set through `tax_amounts`.
struct LineTax: Sendable, Equatable {
    var amount: Int64
    var taxRate: String
    var inclusive: Bool
    var taxableAmount: Int64
    var taxabilityReason: String

    var json: JSON {
        [
            "amount": .int(amount),
            "tax_behavior": inclusive ? "inclusive" : "exclusive",
            "tax_rate_details": ["tax_rate": .string(taxRate)],
            "taxability_reason": .string(taxabilityReason),
            "taxable_amount": .int(taxableAmount),
            "type": "tax_rate_details",
        ]
    }
}

/// A tax rate made from `tax_rate_data`; equal data reuses the same rate, as Stripe does.
struct TaxRate: Sendable, Equatable {
    var id: String
    var displayName: String
    /// As sent ("19", "8.875").
    var percentage: String
    var inclusive: Bool
    var country: String?
    var state: String?
    var jurisdiction: String?
    var taxType: String?
    var description: String?

    func sameData(as other: TaxRate) -> Bool {
        displayName == other.displayName && percentage == other.percentage && inclusive == other.inclusive
            && country == other.country && state == other.state && jurisdiction == other.jurisdiction
            && taxType == other.taxType && description == other.description
    }
}

struct InvoiceItem: Sendable {
    var id: String
    var created: Int64
    var customer: String
    var invoice: String?
    var amount: Int64
    var currency: String
    var description: String?
    var periodStart: Int64
    var periodEnd: Int64
    var quantity: Int64 = 1
    var metadata: [String: String] = [:]
    var discountable = true

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "invoiceitem",
            "amount": .int(amount),
            "currency": .string(currency),
            "customer": .string(customer),
            "date": .int(created),
            "description": .nullable(description),
            "discountable": .bool(discountable),
            "discounts": [],
            "invoice": .nullable(invoice),
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "period": ["end": .int(periodEnd), "start": .int(periodStart)],
            "proration": false,
            "quantity": .int(quantity),
            "tax_rates": [],
            "test_clock": nil,
            "parent": nil,
            "pricing": ["type": "price_details", "unit_amount_decimal": .string(unitAmountDecimal(amount, quantity))],
            "net_amount": .int(amount),
            "customer_account": nil,
            "quantity_decimal": .string(String(quantity)),
        ]
    }
}

/// An invoice line: one per invoice item added to the invoice.
struct InvoiceLine: Sendable {
    var id: String
    var invoiceItem: String
    var amount: Int64
    var currency: String
    var description: String?
    var periodStart: Int64
    var periodEnd: Int64
    var quantity: Int64 = 1
    var metadata: [String: String] = [:]
    var discountable = true
    var taxes: [LineTax] = []

    func json(invoice: String, livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "line_item",
            "amount": .int(amount),
            "currency": .string(currency),
            "description": .nullable(description),
            "discount_amounts": [],
            "discountable": .bool(discountable),
            "discounts": [],
            "invoice": .string(invoice),
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "period": ["end": .int(periodEnd), "start": .int(periodStart)],
            "quantity": .int(quantity),
            "subscription": nil,
            "pretax_credit_amounts": [],
            "taxes": .array(taxes.map(\.json)),
            "parent": [
                "invoice_item_details": ["invoice_item": .string(invoiceItem), "proration": false,
                                         "proration_details": ["credited_items": nil], "subscription": nil],
                "subscription_item_details": nil,
                "type": "invoice_item_details",
            ],
            "pricing": ["type": "price_details", "unit_amount_decimal": .string(unitAmountDecimal(amount, quantity))],
            "subtotal": .int(amount),
            "quantity_decimal": .string(String(quantity)),
        ]
    }
}

/// `amount / quantity` as an exact decimal string (Stripe's `unit_amount_decimal`).
func unitAmountDecimal(_ amount: Int64, _ quantity: Int64) -> String {
    guard quantity > 1 else { return String(amount) }
    let whole = amount / quantity, remainder = amount % quantity
    guard remainder != 0 else { return String(whole) }
    // Up to 12 decimal places, as Stripe keeps.
    var digits = "", rest = abs(remainder)
    for _ in 0..<12 where rest != 0 {
        rest *= 10
        digits += String(rest / quantity)
        rest %= quantity
    }
    let sign = amount < 0 && whole == 0 ? "-" : ""
    return "\(sign)\(whole).\(digits)"
}

enum InvoiceStatus: String, Sendable {
    case draft, open, paid, uncollectible, void
}

struct Invoice: Sendable {
    var id: String
    var created: Int64
    var customer: String
    var currency: String
    var status: InvoiceStatus = .draft
    var autoAdvance: Bool
    var description: String?
    var footer: String?
    var metadata: [String: String] = [:]
    var lines: [InvoiceLine] = []
    var number: String?
    var customerEmail: String?
    var customerName: String?
    var customerPhone: String?
    var customerAddress: Address?
    var customerTaxExempt: String

    // Amounts. Recomputed from the lines while the invoice is a draft; fixed after finalize
    // (and writable by the control route that plants differences).
    var subtotal: Int64 = 0
    var subtotalExcludingTax: Int64 = 0
    var total: Int64 = 0
    var totalExcludingTax: Int64 = 0
    var totalTaxes: [LineTax] = []
    var amountDue: Int64 = 0
    var amountPaid: Int64 = 0
    var amountPaidOffStripe: Int64 = 0
    var amountRemaining: Int64 = 0
    var startingBalance: Int64 = 0
    var endingBalance: Int64?

    var attemptCount: Int64 = 0
    var attempted = false
    var nextPaymentAttempt: Int64?
    var finalizedAt: Int64?
    var paidAt: Int64?
    var voidedAt: Int64?
    var markedUncollectibleAt: Int64?
    var hostedInvoiceURL: String?
    var invoicePDF: String?
    var lastFinalizationError: APIError?
    /// Set through the control route: the next finalize fails with this message.
    var failNextFinalization: String?
    var webhooksDeliveredAt: Int64?

    /// Totals from the lines: subtotal is the sum of line amounts (inclusive tax inside them),
    /// total adds the exclusive taxes; the amount due is the total until the customer's balance
    /// is applied at finalization.
    mutating func recompute() {
        subtotal = lines.reduce(0) { $0 + $1.amount }
        var inclusive: Int64 = 0, exclusive: Int64 = 0
        var byRate: [(String, LineTax)] = []
        for tax in lines.flatMap(\.taxes) {
            if tax.inclusive { inclusive += tax.amount } else { exclusive += tax.amount }
            if let index = byRate.firstIndex(where: { $0.0 == tax.taxRate }) {
                byRate[index].1.amount += tax.amount
                byRate[index].1.taxableAmount += tax.taxableAmount
            } else {
                byRate.append((tax.taxRate, tax))
            }
        }
        totalTaxes = byRate.map(\.1)
        subtotalExcludingTax = subtotal - inclusive
        totalExcludingTax = subtotalExcludingTax
        total = subtotal + exclusive
        amountDue = total
        amountRemaining = amountDue - amountPaid
    }

    /// Stripe's `period_start` and `period_end` of a one-off invoice: its creation time. The
    /// service periods are on the lines.
    var periodStart: Int64 { created }
    var periodEnd: Int64 { created }

    /// The invoice's JSON with its first `embeddedLines` lines, as Stripe embeds them.
    func json(livemode: Bool, accountName: String, embeddedLines: Int = 10) -> JSON {
        let shown = lines.prefix(embeddedLines).map { $0.json(invoice: id, livemode: livemode) }
        return [
            "id": .string(id), "object": "invoice",
            "account_country": "US",
            "account_name": .string(accountName),
            "account_tax_ids": nil,
            "amount_due": .int(amountDue),
            "amount_overpaid": 0,
            "amount_paid": .int(amountPaid),
            "amount_paid_off_stripe": .int(amountPaidOffStripe),
            "amount_remaining": .int(amountRemaining),
            "amount_shipping": 0,
            "application": nil,
            "attempt_count": .int(attemptCount),
            "attempted": .bool(attempted),
            "auto_advance": .bool(autoAdvance),
            "automatic_tax": ["enabled": false, "liability": nil, "status": nil, "disabled_reason": nil, "provider": nil],
            "automatically_finalizes_at": nil,
            "billing_reason": "manual",
            "collection_method": "charge_automatically",
            "created": .int(created),
            "currency": .string(currency),
            "custom_fields": nil,
            "customer": .string(customer),
            "customer_account": nil,
            "customer_address": customerAddress?.json ?? .null,
            "customer_email": .nullable(customerEmail),
            "customer_name": .nullable(customerName),
            "customer_phone": .nullable(customerPhone),
            "customer_shipping": nil,
            "customer_tax_exempt": .string(customerTaxExempt),
            "customer_tax_ids": [],
            "default_payment_method": nil,
            "default_source": nil,
            "default_tax_rates": [],
            "description": .nullable(description),
            "discounts": [],
            "due_date": nil,
            "effective_at": .nullable(finalizedAt),
            "ending_balance": .nullable(endingBalance),
            "footer": .nullable(footer),
            "from_invoice": nil,
            "hosted_invoice_url": .nullable(hostedInvoiceURL),
            "invoice_pdf": .nullable(invoicePDF),
            "issuer": ["type": "self"],
            "last_finalization_error": lastFinalizationError.map { error in
                ["code": .nullable(error.code), "message": .string(error.message), "type": .string(error.type)]
            } ?? .null,
            "latest_revision": nil,
            "lines": .list(shown, hasMore: lines.count > shown.count, url: "/v1/invoices/\(id)/lines"),
            "livemode": .bool(livemode),
            "metadata": .map(metadata),
            "next_payment_attempt": .nullable(nextPaymentAttempt),
            "number": .nullable(number),
            "on_behalf_of": nil,
            "parent": nil,
            "payment_settings": ["default_mandate": nil, "payment_method_options": nil, "payment_method_types": nil],
            "period_end": .int(periodEnd),
            "period_start": .int(periodStart),
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "receipt_number": nil,
            "rendering": ["amount_tax_display": nil, "pdf": ["page_size": "auto"], "template": nil, "template_version": nil],
            "shipping_cost": nil,
            "shipping_details": nil,
            "starting_balance": .int(startingBalance),
            "statement_descriptor": nil,
            "status": .string(status.rawValue),
            "status_transitions": ["finalized_at": .nullable(finalizedAt),
                                   "marked_uncollectible_at": .nullable(markedUncollectibleAt),
                                   "paid_at": .nullable(paidAt), "voided_at": .nullable(voidedAt)],
            "subscription": nil,
            "subtotal": .int(subtotal),
            "subtotal_excluding_tax": .int(subtotalExcludingTax),
            "test_clock": nil,
            "total": .int(total),
            "total_discount_amounts": [],
            "total_excluding_tax": .int(totalExcludingTax),
            "total_pretax_credit_amounts": [],
            "total_taxes": .array(totalTaxes.map(\.json)),
            "webhooks_delivered_at": .nullable(webhooksDeliveredAt),
        ]
    }
}
