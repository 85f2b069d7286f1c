import Billing
import Foundation

/// Who is taxed, as a tax calculation and transaction carry it.
public struct TaxCustomerDetails: Hashable, Sendable, Decodable, FormEncodable {
    public enum AddressSource: String, Hashable, Sendable, Decodable { case billing, shipping }
    public enum TaxabilityOverride: String, Hashable, Sendable, Decodable {
        case none
        case customerExempt = "customer_exempt"
        case reverseCharge = "reverse_charge"
    }

    /// Stripe needs at least the country.
    public var address: Address?
    public var addressSource: AddressSource?
    public var taxIds: [TaxID]
    public var taxabilityOverride: TaxabilityOverride

    public init(address: Address?, addressSource: AddressSource? = .billing, taxIds: [TaxID] = [],
                taxabilityOverride: TaxabilityOverride = .none) {
        self.address = address
        self.addressSource = addressSource
        self.taxIds = taxIds
        self.taxabilityOverride = taxabilityOverride
    }

    public func encode(into form: inout Form) {
        form.add("address", address)
        form.add("address_source", addressSource?.rawValue)
        form.add("tax_ids", each: taxIds) { $1.encode(into: &$0) }
        form.add("taxability_override", taxabilityOverride.rawValue)
    }
}

public enum TaxBehavior: String, Hashable, Sendable, Decodable {
    case exclusive, inclusive
}

/// One tax in a calculation's breakdown.
public struct TaxBreakdown: Hashable, Sendable, Decodable {
    public struct RateDetails: Hashable, Sendable, Decodable {
        public var country: String?
        public var state: String?
        /// The rate in percent as Stripe writes it ("19.0"), exact.
        public var percentageDecimal: String
        public var taxType: String?
    }

    public var amount: Int64
    public var inclusive: Bool
    public var taxableAmount: Int64
    public var taxabilityReason: String
    public var taxRateDetails: RateDetails
}

/// A Stripe Tax calculation (`taxcalc_…`): the tax of a set of lines for one customer.
public struct TaxCalculation: Hashable, Sendable, Decodable {
    /// Nil for a calculation Stripe did not keep.
    public var id: String?
    public var currency: String
    public var customer: String?
    public var customerDetails: TaxCustomerDetails
    public var amountTotal: Int64
    public var taxAmountExclusive: Int64
    public var taxAmountInclusive: Int64
    public var taxBreakdown: [TaxBreakdown]
    public var taxDate: Int64
    public var expiresAt: Int64?
    public var livemode: Bool
    /// Present when asked for with `expand[]=line_items`; else list them.
    public var lineItems: StripeList<TaxCalculationLineItem>?
}

/// A line of a tax calculation; `reference` is the caller's id of the line.
public struct TaxCalculationLineItem: StripeObject, Hashable {
    public var id: String
    public var amount: Int64
    public var amountTax: Int64
    public var quantity: Int
    public var reference: String
    public var taxBehavior: TaxBehavior
    public var taxCode: String
    public var product: String?
    public var metadata: [String: String]?
}

/// POST /v1/tax/calculations.
public struct TaxCalculationCreate: Hashable, Sendable, FormEncodable {
    public struct Line: Hashable, Sendable, FormEncodable {
        /// Minor units; the whole line, not a unit price.
        public var amount: Int64
        /// The caller's id of the line, unique within the calculation.
        public var reference: String
        public var taxBehavior: TaxBehavior?
        public var taxCode: String?
        public var quantity: Int?
        public var metadata: [String: String]?

        public init(amount: Int64, reference: String, taxBehavior: TaxBehavior? = nil, taxCode: String? = nil,
                    quantity: Int? = nil, metadata: [String: String]? = nil) {
            self.amount = amount
            self.reference = reference
            self.taxBehavior = taxBehavior
            self.taxCode = taxCode
            self.quantity = quantity
            self.metadata = metadata
        }

        public func encode(into form: inout Form) {
            form.add("amount", amount)
            form.add("reference", reference)
            form.add("tax_behavior", taxBehavior?.rawValue)
            form.add("tax_code", taxCode)
            form.add("quantity", quantity)
            form.add("metadata", map: metadata)
        }
    }

    public var currency: Currency
    /// A Stripe customer whose address and tax ids to use, or `customerDetails`.
    public var customer: String?
    public var customerDetails: TaxCustomerDetails?
    public var lineItems: [Line]
    /// Unix seconds of the taxable event; Stripe's default is now.
    public var taxDate: Int64?
    /// Returns the line items in the answer (`expand[]=line_items`).
    public var expandLineItems: Bool

    public init(currency: Currency, customer: String? = nil, customerDetails: TaxCustomerDetails? = nil, lineItems: [Line],
                taxDate: Int64? = nil, expandLineItems: Bool = false) {
        self.currency = currency
        self.customer = customer
        self.customerDetails = customerDetails
        self.lineItems = lineItems
        self.taxDate = taxDate
        self.expandLineItems = expandLineItems
    }

    public func encode(into form: inout Form) {
        form.add("currency", currency.code.lowercased())
        form.add("customer", customer)
        form.add("customer_details", customerDetails)
        form.add("line_items", each: lineItems) { $1.encode(into: &$0) }
        form.add("tax_date", taxDate)
        if expandLineItems { form.add("expand", list: ["line_items"]) }
    }
}

/// A recorded tax transaction (`tax_…`): a calculation made final once the invoice is issued,
/// or the reversal of one.
public struct TaxTransaction: StripeObject, Hashable {
    public struct Reversal: Hashable, Sendable, Decodable {
        public var originalTransaction: String?
    }

    public enum Kind: String, Hashable, Sendable, Decodable { case transaction, reversal }

    public var id: String
    public var type: Kind
    public var reference: String
    public var currency: String
    public var customer: String?
    public var customerDetails: TaxCustomerDetails
    public var created: Int64
    public var postedAt: Int64
    public var taxDate: Int64
    public var livemode: Bool
    public var reversal: Reversal?
    public var metadata: [String: String]?
    public var lineItems: StripeList<TaxTransactionLineItem>?
}

public struct TaxTransactionLineItem: StripeObject, Hashable {
    public struct Reversal: Hashable, Sendable, Decodable {
        public var originalLineItem: String
    }

    public var id: String
    public var type: TaxTransaction.Kind
    public var amount: Int64
    public var amountTax: Int64
    public var quantity: Int
    public var reference: String
    public var taxBehavior: TaxBehavior
    public var taxCode: String
    public var reversal: Reversal?
    public var metadata: [String: String]?
}

/// POST /v1/tax/transactions/create_from_calculation.
public struct TaxTransactionCreate: Hashable, Sendable, FormEncodable {
    public var calculation: String
    /// Unique per transaction at Stripe: Tollbooth's invoice id.
    public var reference: String
    public var postedAt: Int64?
    public var metadata: [String: String]?

    public init(calculation: String, reference: String, postedAt: Int64? = nil, metadata: [String: String]? = nil) {
        self.calculation = calculation
        self.reference = reference
        self.postedAt = postedAt
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("calculation", calculation)
        form.add("reference", reference)
        form.add("posted_at", postedAt)
        form.add("metadata", map: metadata)
    }
}

/// POST /v1/tax/transactions/create_reversal: undoes a transaction in full (a voided invoice)
/// or in part.
public struct TaxReversalCreate: Hashable, Sendable, FormEncodable {
    public enum Mode: Hashable, Sendable {
        case full
        /// Amounts are negative, as Stripe wants a reversal's.
        case partial(lines: [Line])
        /// The same share of every line.
        case flatAmount(Int64)
    }

    public struct Line: Hashable, Sendable, FormEncodable {
        public var originalLineItem: String
        public var reference: String
        public var amount: Int64
        public var amountTax: Int64
        public var quantity: Int?

        public init(originalLineItem: String, reference: String, amount: Int64, amountTax: Int64, quantity: Int? = nil) {
            self.originalLineItem = originalLineItem
            self.reference = reference
            self.amount = amount
            self.amountTax = amountTax
            self.quantity = quantity
        }

        public func encode(into form: inout Form) {
            form.add("original_line_item", originalLineItem)
            form.add("reference", reference)
            form.add("amount", amount)
            form.add("amount_tax", amountTax)
            form.add("quantity", quantity)
        }
    }

    public var originalTransaction: String
    /// Unique per transaction at Stripe, like the original's.
    public var reference: String
    public var mode: Mode
    public var metadata: [String: String]?

    public init(originalTransaction: String, reference: String, mode: Mode = .full, metadata: [String: String]? = nil) {
        self.originalTransaction = originalTransaction
        self.reference = reference
        self.mode = mode
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("original_transaction", originalTransaction)
        form.add("reference", reference)
        switch mode {
        case .full:
            form.add("mode", "full")
        case .partial(let lines):
            form.add("mode", "partial")
            form.add("line_items", each: lines) { $1.encode(into: &$0) }
        case .flatAmount(let amount):
            form.add("mode", "partial")
            form.add("flat_amount", amount)
        }
        form.add("metadata", map: metadata)
    }
}

extension StripeClient {
    public func createTaxCalculation(_ params: TaxCalculationCreate, idempotencyKey: String) throws(StripeError) -> TaxCalculation {
        try post("/v1/tax/calculations", params, idempotencyKey: idempotencyKey)
    }

    public func retrieveTaxCalculation(_ id: String) throws(StripeError) -> TaxCalculation {
        try call(.get, StripeClient.path("/v1/tax/calculations", id))
    }

    public func listTaxCalculationLineItems(calculation: String, _ page: Page = Page()) throws(StripeError) -> StripeList<TaxCalculationLineItem> {
        try get(StripeClient.path("/v1/tax/calculations", calculation, "line_items"), page)
    }

    public func createTaxTransaction(_ params: TaxTransactionCreate, idempotencyKey: String) throws(StripeError) -> TaxTransaction {
        try post("/v1/tax/transactions/create_from_calculation", params, idempotencyKey: idempotencyKey)
    }

    public func createTaxReversal(_ params: TaxReversalCreate, idempotencyKey: String) throws(StripeError) -> TaxTransaction {
        try post("/v1/tax/transactions/create_reversal", params, idempotencyKey: idempotencyKey)
    }

    public func retrieveTaxTransaction(_ id: String) throws(StripeError) -> TaxTransaction {
        try call(.get, StripeClient.path("/v1/tax/transactions", id))
    }
}
