import Billing
import Foundation
import Store
import Stripe

/// Why an invoice may not be voided: a case per reason, described in words the user can act
/// on (exit 2).
public enum VoidRefusal: Error, Hashable, CustomStringConvertible, Sendable {
    case notFound(invoiceId: String)
    /// Paid locally: refunded in Stripe, corrected with an adjustment.
    case paid(invoiceId: String)
    case alreadyVoid(invoiceId: String)
    /// It failed at `stage` before it was issued: a rerun resumes it.
    case failedBeforeIssue(invoiceId: String, stage: String?)
    /// Not issued yet (draft, rated, taxed, issuing) or never to be.
    case notIssued(invoiceId: String, status: InvoiceStatus)
    case noStripeInvoice(invoiceId: String)
    case stripeNotConnected
    /// Stripe holds it as paid, which this database has not collected yet.
    case paidInStripe(invoiceId: String, stripeInvoiceId: String)

    public var description: String {
        switch self {
        case .notFound(let id):
            return "no invoice \(id): `tollbooth invoices list` shows the ids"
        case .paid(let id):
            return "invoice \(id) is paid: a paid invoice is refunded in Stripe, not voided; bill a correction with `tollbooth adjustments add`"
        case .alreadyVoid(let id):
            return "invoice \(id) is already void"
        case .failedBeforeIssue(let id, let stage):
            return "invoice \(id) failed at \(stage ?? "a stage") and was never issued: `tollbooth rerun \(id)` resumes it"
        case .notIssued(let id, let status):
            return "invoice \(id) is \(status.rawValue): only issued, unpaid invoices are voided"
        case .noStripeInvoice(let id):
            return "invoice \(id) has no Stripe invoice recorded"
        case .stripeNotConnected:
            return "Stripe is not connected: run `tollbooth stripe connect` first, so the invoice is voided in Stripe too"
        case .paidInStripe(_, let stripeId):
            return "Stripe holds \(stripeId) as paid: run `tollbooth run --stage collect`; a paid invoice is refunded in Stripe, not voided"
        }
    }
}

/// `invoices void`: voids an issued, unpaid invoice in Stripe, reverses its Stripe Tax
/// Transaction if it has one, then voids it locally; its lines are billed again on the
/// customer's first invoice for a bill date at or after the void.
public struct InvoiceVoider {
    let store: any Store
    let stripe: StripeConnection?
    let now: Instant

    public init(store: any Store, stripe: StripeConnection?, now: Instant) {
        self.store = store
        self.stripe = stripe
        self.now = now
    }

    public func void(invoiceId: String, reason: String) throws {
        guard let invoice = try store.invoice(id: invoiceId) else {
            throw VoidRefusal.notFound(invoiceId: invoiceId)
        }
        switch invoice.status {
        case .issued, .paymentFailed, .uncollectible:
            break
        case .paid:
            throw VoidRefusal.paid(invoiceId: invoiceId)
        case .void:
            throw VoidRefusal.alreadyVoid(invoiceId: invoiceId)
        case .failed:
            throw VoidRefusal.failedBeforeIssue(invoiceId: invoiceId, stage: invoice.failure?.stage)
        case .draft, .rated, .taxed, .issuing, .notRequired:
            throw VoidRefusal.notIssued(invoiceId: invoiceId, status: invoice.status)
        }
        guard let stripeId = invoice.stripeInvoiceId else {
            throw VoidRefusal.noStripeInvoice(invoiceId: invoiceId)
        }
        guard let stripe else {
            throw VoidRefusal.stripeNotConnected
        }
        let remote = try stripe.client.retrieveInvoice(stripeId)
        if remote.status == .paid {
            throw VoidRefusal.paidInStripe(invoiceId: invoiceId, stripeInvoiceId: stripeId)
        }
        if remote.status != .void {
            _ = try stripe.client.voidInvoice(stripeId, idempotencyKey: "tollbooth-void-\(invoiceId)")
        }
        if let transaction = invoice.taxTransactionId {
            _ = try stripe.client.createTaxReversal(TaxReversalCreate(originalTransaction: transaction, reference: "\(invoiceId)-void"),
                                                    idempotencyKey: "tollbooth-tax-reversal-\(invoiceId)")
        }
        try store.transaction { try store.voidInvoice(invoiceId, reason: reason, at: now) }
    }
}
