import Billing
import Foundation

/// An invoice as the reports read it: amounts in the currency's integer minor units, read
/// exactly from the stored decimal text, so sums over a million lines stay exact and cheap.
public struct ReportInvoice: Hashable, Sendable {
    public var id: String
    public var customerKey: String
    public var currency: Currency
    public var billDate: Instant
    public var periodStart: Instant?
    public var periodEnd: Instant?
    public var status: InvoiceStatus
    public var subtotal: Int64
    public var tax: Int64
    public var total: Int64
    public var stripeInvoiceId: String?
    /// Stripe's total as Stripe last reported it (finalize, collect, reconcile).
    public var stripeTotal: Int64?
    public var number: String?
    public var paidAt: Instant?
    public var failure: StoredInvoice.Failure?
}

/// One invoice line with what the reports show next to it: its invoice's customer, bill date,
/// currency and applied tax rate, and the plan of its subscription.
public struct ReportLine: Hashable, Sendable {
    public var id: String
    public var invoiceId: String
    public var invoiceStatus: InvoiceStatus
    public var customerKey: String
    public var billDate: Instant
    public var currency: Currency
    public var kind: LineKind
    /// The plan of the line's subscription; nil for lines without one (adjustments).
    public var planKey: String?
    public var rateCardKey: String?
    public var featureKey: String?
    public var description: String
    public var period: Period
    public var quantity: Decimal?
    /// Minor units.
    public var amount: Int64
    /// Minor units.
    public var tax: Int64
    public var taxBehavior: TaxBehavior
    public var detail: String
    /// The rate the tax stage applied to the invoice; nil when it applied none.
    public var appliedTax: AppliedTax?
}

/// A credit carried past the end of a report's range: not yet taken by an invoice made before it.
public struct ReportCredit: Hashable, Sendable {
    public var customerKey: String
    /// The customer's currency, else that of its latest invoice.
    public var currency: Currency?
    public var kind: LineKind
    public var rateCardKey: String?
    public var description: String
    /// Negative: a credit.
    public var amount: Decimal
    /// The bill date of the invoice it was first billed on.
    public var originBillDate: Instant
}

/// A stored amount that is not a plain decimal with at most the currency's decimals.
public struct ReportAmountError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Hashable, Sendable {
        /// The text is not a decimal number.
        case notADecimal
        /// Not a plain decimal with at most the currency's decimals.
        case notAnAmount
        /// Beyond what 64-bit minor units hold.
        case tooLarge
    }

    public let kind: Kind
    /// The stored text.
    public let text: String
    public let description: String

    public init(_ kind: Kind, text: String, description: String) {
        self.kind = kind
        self.text = text
        self.description = description
    }
}

/// What the finance reports read, streamed in bill-date order with exact integer amounts.
public protocol ReportRepository: AnyObject {
    func forEachReportInvoice(billDateFrom from: Instant, to: Instant, _ body: (ReportInvoice) throws -> Void) throws
    func forEachReportLine(billDateFrom from: Instant, to: Instant, _ body: (ReportLine) throws -> Void) throws
    /// The meter of every feature that has one.
    func featureMeters() throws -> [String: String]
    /// Credits carried at `to`.
    func carriedCredits(at to: Instant) throws -> [ReportCredit]
}
