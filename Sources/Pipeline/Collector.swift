import Billing
import Foundation
import Store
import Stripe

/// The collect stage's rule: what an issued invoice's status becomes from Stripe's invoice, and
/// when each change happened. Stripe is the source of truth for payment state.
enum PaymentStateRule {
    /// The local status and payment state for Stripe's invoice, given what was stored before.
    /// Times Stripe records (`status_transitions`) are used as they are; a payment failure has
    /// none on the invoice, so its first sighting (`now`) is kept as the time it happened.
    static func apply(_ remote: StripeInvoice, to stored: StoredInvoice, now: Instant) -> (InvoiceStatus, PaymentState) {
        var payment = stored.payment
        take(remote, into: &payment)
        payment.attemptCount = remote.attemptCount
        payment.collectedAt = now
        if payment.paymentFailedAt == nil, remote.attemptCount > 0, remote.status != .paid {
            payment.paymentFailedAt = now
        }
        let status: InvoiceStatus
        switch remote.status {
        case .paid?:
            status = .paid
            payment.paidAt = remote.statusTransitions.paidAt.map { Instant(seconds: $0) } ?? stored.payment.paidAt ?? now
        case .void?:
            status = .void
            payment.voidedAt = remote.statusTransitions.voidedAt.map { Instant(seconds: $0) } ?? stored.payment.voidedAt ?? now
        case .uncollectible?:
            status = .uncollectible
            payment.uncollectibleAt = remote.statusTransitions.markedUncollectibleAt.map { Instant(seconds: $0) }
                ?? stored.payment.uncollectibleAt ?? now
        case .open?:
            status = remote.attemptCount > 0 ? .paymentFailed : .issued
        case .draft?, nil:
            status = stored.status
        }
        return (status, payment)
    }

    /// Why an open invoice's payment failed, when the invoice shows it: a failed automatic
    /// attempt with no next attempt scheduled while Stripe still collects it automatically is
    /// a payment waiting for the customer's authentication (3-D Secure), which Stripe does not
    /// retry by itself. The customer confirms it on the hosted invoice page.
    static func failureReason(_ remote: StripeInvoice) -> String? {
        guard remote.status == .open, remote.attemptCount > 0, remote.autoAdvance, remote.nextPaymentAttempt == nil,
              remote.collectionMethod == .chargeAutomatically else { return nil }
        return authenticationReason(remote)
    }

    /// The reason recorded for a payment waiting for the customer's authentication.
    static func authenticationReason(_ remote: StripeInvoice) -> String {
        let link = remote.hostedInvoiceUrl.map { " at \($0)" } ?? ""
        return "\(authenticationRequired): the customer confirms the payment (3-D Secure)\(link)"
    }

    /// Stripe's status, amounts and next attempt of `remote`, kept on `payment` (the attempt
    /// count is the caller's to take).
    static func take(_ remote: StripeInvoice, into payment: inout PaymentState) {
        payment.stripeStatus = remote.status?.rawValue
        payment.stripeTotal = remote.total
        payment.amountDue = remote.amountDue
        payment.amountPaid = remote.amountPaid
        payment.startingBalance = remote.startingBalance
        payment.nextPaymentAttempt = remote.nextPaymentAttempt.map { Instant(seconds: $0) }
    }

    static let authenticationRequired = "authentication required"
}

/// Reads the payment state of every issued invoice that may still change from Stripe.
struct Collector {
    let store: any Store
    let stripe: StripeClient
    let now: Instant

    struct Counts {
        var paid = 0, paymentFailed = 0, uncollectible = 0, void = 0, open = 0, errors: [String] = []

        mutating func add(_ other: Counts) {
            paid += other.paid
            paymentFailed += other.paymentFailed
            uncollectible += other.uncollectible
            void += other.void
            open += other.open
            errors += other.errors
        }
    }

    func collect(_ invoices: [StoredInvoice]) throws -> Counts {
        var counts = Counts()
        for invoice in invoices {
            guard let id = invoice.stripeInvoiceId else { continue }
            var stripe = self.stripe
            stripe.logger[metadataKey: "invoice.id"] = "\(invoice.id)"
            let remote: StripeInvoice
            do { remote = try stripe.retrieveInvoice(id) } catch {
                counts.errors.append("\(invoice.id): \(error.description)")
                continue
            }
            let (status, payment) = PaymentStateRule.apply(remote, to: invoice, now: now)
            try store.recordPayment(invoiceId: invoice.id, status: status, payment: payment,
                                    failureReason: status == .paymentFailed ? PaymentStateRule.failureReason(remote) : nil, at: now)
            switch status {
            case .paid: counts.paid += 1
            case .paymentFailed: counts.paymentFailed += 1
            case .uncollectible: counts.uncollectible += 1
            case .void: counts.void += 1
            case .draft, .rated, .taxed, .issuing, .issued, .notRequired, .failed: counts.open += 1
            }
        }
        return counts
    }
}
