/// One entry of the rate table that tax calculations use. The most specific match wins: country
/// and state, then country alone.
struct TaxRule: Sendable, Equatable {
    var country: String
    var state: String?
    var percentage: Percentage
    var displayName: String
    var taxType: String

    static func match(_ rules: [TaxRule], country: String?, state: String?) -> TaxRule? {
        guard let country else { return nil }
        let upper = country.uppercased()
        if let state, let exact = rules.first(where: { $0.country == upper && $0.state?.uppercased() == state.uppercased() }) {
            return exact
        }
        return rules.first { $0.country == upper && $0.state == nil }
    }
}

struct TaxLine: Sendable {
    var id: String
    var amount: Int64
    var amountTax: Int64
    var quantity: Int64
    var reference: String
    var taxBehavior: String
    var taxCode: String
    var metadata: [String: String]?
    /// For a reversal's line: the line of the original transaction it reverses.
    var originalLine: String?

    func calculationJSON(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "tax.calculation_line_item",
            "amount": .int(amount), "amount_tax": .int(amountTax), "livemode": .bool(livemode),
            "product": nil, "quantity": .int(quantity), "reference": .string(reference),
            "tax_behavior": .string(taxBehavior), "tax_code": .string(taxCode),
            "metadata": metadata.map(JSON.map) ?? .null,
        ]
    }

    func transactionJSON(livemode: Bool, type: String) -> JSON {
        [
            "id": .string(id), "object": "tax.transaction_line_item",
            "amount": .int(amount), "amount_tax": .int(amountTax), "livemode": .bool(livemode),
            "metadata": metadata.map(JSON.map) ?? .null,
            "product": nil, "quantity": .int(quantity), "reference": .string(reference),
            "reversal": originalLine.map { ["original_line_item": .string($0)] } ?? .null,
            "tax_behavior": .string(taxBehavior), "tax_code": .string(taxCode), "type": .string(type),
        ]
    }
}

/// The tax one rate table entry (or none) gave a calculation.
struct TaxBreakdown: Sendable {
    var amount: Int64
    var inclusive: Bool
    var taxableAmount: Int64
    var rule: TaxRule?
    var taxabilityReason: String

    var json: JSON {
        [
            "amount": .int(amount),
            "inclusive": .bool(inclusive),
            "tax_rate_details": [
                "country": .nullable(rule?.country),
                "percentage_decimal": .string(rule?.percentage.text ?? "0.0"),
                "state": .nullable(rule?.state),
                "tax_type": .nullable(rule?.taxType),
                "flat_amount": nil,
                "rate_type": "percentage",
            ],
            "taxability_reason": .string(taxabilityReason),
            "taxable_amount": .int(taxableAmount),
        ]
    }
}

struct TaxCustomerDetails: Sendable {
    var address: Address?
    var addressSource: String?
    var taxabilityOverride: String

    var json: JSON {
        ["address": address?.json ?? .null, "address_source": .nullable(addressSource), "ip_address": nil,
         "tax_ids": [], "taxability_override": .string(taxabilityOverride)]
    }
}

struct TaxCalculation: Sendable {
    var id: String
    var created: Int64
    var currency: String
    var customer: String?
    var customerDetails: TaxCustomerDetails
    var lines: [TaxLine]
    var breakdown: [TaxBreakdown]
    var taxDate: Int64

    var taxExclusive: Int64 { lines.filter { $0.taxBehavior == "exclusive" }.reduce(0) { $0 + $1.amountTax } }
    var taxInclusive: Int64 { lines.filter { $0.taxBehavior == "inclusive" }.reduce(0) { $0 + $1.amountTax } }

    func json(livemode: Bool, expandLines: Bool) -> JSON {
        var json: JSON = [
            "id": .string(id), "object": "tax.calculation",
            "amount_total": .int(lines.reduce(0) { $0 + $1.amount } + taxExclusive),
            "currency": .string(currency),
            "customer": .nullable(customer),
            "customer_details": customerDetails.json,
            "expires_at": .int(created + 90 * 86_400),
            "livemode": .bool(livemode),
            "ship_from_details": nil,
            "shipping_cost": nil,
            "tax_amount_exclusive": .int(taxExclusive),
            "tax_amount_inclusive": .int(taxInclusive),
            "tax_breakdown": .array(breakdown.map(\.json)),
            "tax_date": .int(taxDate),
        ]
        if expandLines {
            json = json.setting("line_items", .list(lines.map { $0.calculationJSON(livemode: livemode) }, hasMore: false,
                                                    url: "/v1/tax/calculations/\(id)/line_items"))
        }
        return json
    }
}

struct TaxTransaction: Sendable {
    var id: String
    var created: Int64
    var currency: String
    var customer: String?
    var customerDetails: TaxCustomerDetails
    var lines: [TaxLine]
    var metadata: [String: String]?
    var postedAt: Int64
    var reference: String
    var taxDate: Int64
    /// For a reversal: the transaction it reverses.
    var originalTransaction: String?

    var type: String { originalTransaction == nil ? "transaction" : "reversal" }

    func json(livemode: Bool) -> JSON {
        [
            "id": .string(id), "object": "tax.transaction",
            "created": .int(created),
            "currency": .string(currency),
            "customer": .nullable(customer),
            "customer_details": customerDetails.json,
            "line_items": .list(lines.map { $0.transactionJSON(livemode: livemode, type: type) }, hasMore: false,
                                url: "/v1/tax/transactions/\(id)/line_items"),
            "livemode": .bool(livemode),
            "metadata": metadata.map(JSON.map) ?? .null,
            "posted_at": .int(postedAt),
            "reference": .string(reference),
            "reversal": originalTransaction.map { ["original_transaction": .string($0)] } ?? .null,
            "ship_from_details": nil,
            "shipping_cost": nil,
            "tax_date": .int(taxDate),
            "type": .string(type),
        ]
    }
}
