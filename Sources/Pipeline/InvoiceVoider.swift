import Billing
import Foundation
import Store
import Stripe

/// Why an invoice may not be voided, in words the user can act on (exit 2).
public struct VoidRefusal: Error, CustomStringConvertible, Sendable {
    public let description: String
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
            throw VoidRefusal(description: "no invoice \(invoiceId): `tollbooth invoices list` shows the ids")
        }
        switch invoice.status {
        case .issued, .paymentFailed, .uncollectible:
            break
        case .paid:
            throw VoidRefusal(description: "invoice \(invoiceId) is paid: a paid invoice is refunded in Stripe, not voided; bill a correction with `tollbooth adjustments add`")
        case .void:
            throw VoidRefusal(description: "invoice \(invoiceId) is already void")
        case .failed:
            throw VoidRefusal(description: "invoice \(invoiceId) failed at \(invoice.failure?.stage ?? "a stage") and was never issued: `tollbooth rerun \(invoiceId)` resumes it")
        case .draft, .rated, .taxed, .issuing, .notRequired:
            throw VoidRefusal(description: "invoice \(invoiceId) is \(invoice.status.rawValue): only issued, unpaid invoices are voided")
        }
        guard let stripeId = invoice.stripeInvoiceId else {
            throw VoidRefusal(description: "invoice \(invoiceId) has no Stripe invoice recorded")
        }
        guard let stripe else {
            throw VoidRefusal(description: "Stripe is not connected: run `tollbooth stripe connect` first, so the invoice is voided in Stripe too")
        }
        let remote = try stripe.client.retrieveInvoice(stripeId)
        if remote.status == .paid {
            throw VoidRefusal(description: "Stripe holds \(stripeId) as paid: run `tollbooth run --stage collect`; a paid invoice is refunded in Stripe, not voided")
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
