import Billing
import Foundation

/// One difference between a local invoice and Stripe's, as the reconcile stage found it.
public struct ReconciliationDifference: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// A local invoice issued to Stripe that Stripe does not have.
        case missingInStripe = "missing_in_stripe"
        case currency
        /// Stripe's total differs from ours (amounts in the invoice's currency).
        case total
        /// Stripe's invoice has another number of lines than ours.
        case itemCount = "item_count"
        /// Stripe's status does not match ours (ours `issued`, Stripe's `void`...).
        case status
        /// A Stripe invoice whose `metadata[tollbooth_invoice]` names no local invoice.
        case orphan
        /// A customer balance Stripe applied (an amount below the minimum charge carried from an
        /// earlier invoice): explained, not an error.
        case carriedBalance = "carried_balance"

        /// Whether the difference needs someone to look at it.
        public var isUnexplained: Bool { self != .carriedBalance }
    }

    public var invoiceId: String?
    public var stripeInvoiceId: String?
    public var customerKey: String?
    public var kind: Kind
    /// What Tollbooth holds, and what Stripe holds, as text ("31.10 USD", "issued").
    public var local: String?
    public var stripe: String?
    /// A sentence a finance user can act on.
    public var detail: String

    public init(invoiceId: String?, stripeInvoiceId: String?, customerKey: String?, kind: Kind, local: String?, stripe: String?,
                detail: String) {
        self.invoiceId = invoiceId
        self.stripeInvoiceId = stripeInvoiceId
        self.customerKey = customerKey
        self.kind = kind
        self.local = local
        self.stripe = stripe
        self.detail = detail
    }
}

/// A comparison of the local invoices of a range of bill dates with Stripe.
public struct Reconciliation: Hashable, Sendable {
    public var id: Int64
    /// Bill dates in `[from, to)`.
    public var from: Instant
    public var to: Instant
    public var account: String
    public var compared: Int
    public var createdAt: Instant
    public var finishedAt: Instant?
}

/// Reconciliations of stored invoices against Stripe's, with the differences found.
public protocol ReconciliationRepository: AnyObject {
    func startReconciliation(runId: Int64?, from: Instant, to: Instant, account: String, at now: Instant) throws -> Int64
    func recordDifference(_ difference: ReconciliationDifference, reconciliation: Int64) throws
    func finishReconciliation(_ id: Int64, compared: Int, at now: Instant) throws
    /// The newest finished reconciliation of exactly `[from, to)`.
    func latestReconciliation(covering from: Instant, _ to: Instant) throws -> Reconciliation?
    func differences(reconciliation: Int64) throws -> [ReconciliationDifference]
}
