import Billing
import Foundation

/// A customer's Stripe Customer as the store knows it.
public enum StripeCustomerRecord: Hashable, Sendable {
    /// Stripe answered with this id; `digest` is that of the details last sent.
    case created(String, digest: String?)
    /// Its creation was requested and no answer was stored: it may exist in Stripe.
    case requested
}

/// What the issue and collect stages write: Stripe ids against the local rows they stand for,
/// each written as soon as Stripe answers, and payment state read back.

/// What issuing and collecting learn from Stripe: Stripe ids against the rows they stand for,
/// issuing's progress, payment state.
public protocol IssuingRepository: AnyObject {
    func stripeCustomer(customerKey: String, account: String) throws -> StripeCustomerRecord?
    /// Records that a Stripe Customer is about to be created (a row with no id yet).
    func requestStripeCustomer(customerKey: String, account: String, at now: Instant) throws
    func recordStripeCustomer(customerKey: String, account: String, stripeId: String, digest: String?, at now: Instant) throws
    /// Moves a `taxed` invoice to `issuing` before its first Stripe call, or keeps an `issuing`
    /// one there; the first such moment is kept.
    func startIssuing(invoiceId: String, account: String, at now: Instant) throws
    func recordStripeInvoice(invoiceId: String, stripeId: String, at now: Instant) throws
    func recordStripeItem(lineId: String, itemId: String) throws
    func recordStripeLines(lineIds: [String], key: String) throws
    /// Whether the issue stage should look for a saved card to make the Customer's default.
    func paymentMethodsToCheck(customerKey: String, account: String) throws -> Bool
    func recordPaymentMethodsChecked(customerKey: String, account: String, defaultPaymentMethod: String?) throws
    func requestPaymentMethodsCheck(customerKey: String, account: String) throws
    func markIssued(invoiceId: String, number: String?, hostedInvoiceUrl: String?, invoicePdf: String?, stripeTotal: Int64,
                    at now: Instant) throws
    func recordStripeTotal(invoiceId: String, _ total: Int64) throws
    func recordTaxTransaction(invoiceId: String, transactionId: String) throws
    func invoicesAwaitingTaxTransaction() throws -> [StoredInvoice]
    /// Records what `collect` read from Stripe.
    func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, failureReason: String?,
                       at now: Instant) throws
    /// Invoices whose payment state may still change.
    func collectableInvoices() throws -> [StoredInvoice]
    /// Puts a failed invoice back where its failed stage starts, under a new generation of
    /// idempotency keys; returns the stage to run, or nil when it is not failed.
    func resumeFailed(invoiceId: String, at now: Instant) throws -> String?
}

extension IssuingRepository {
    public func recordPayment(invoiceId: String, status: InvoiceStatus, payment: PaymentState, at now: Instant) throws {
        try recordPayment(invoiceId: invoiceId, status: status, payment: payment, failureReason: nil, at: now)
    }
}
