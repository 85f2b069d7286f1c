import Billing
import Foundation
import Store
import Testing
@testable import Pipeline
@testable import Stripe

/// How one webhook event moves a stored invoice's payment state (`PaymentStateRule.apply`):
/// only forward, the failure time the earliest failing event's `created`.
@Suite struct PaymentStateRuleTests {
    let failedAt = Instant(seconds: 1_796_000_000)

    /// Stripe's example invoice (Tests/Fixtures/stripe/invoice.json) as an event's object, with `changes`.
    func remote(_ changes: [String: Any] = [:]) throws -> StripeInvoice {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/stripe/invoice.json")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        for (key, value) in changes { object[key] = value }
        let event = try JSONSerialization.data(withJSONObject: [
            "id": "evt_1", "object": "event", "api_version": "2026-07-29.dahlia", "created": 1_796_000_000, "livemode": false,
            "pending_webhooks": 1, "request": ["id": NSNull(), "idempotency_key": NSNull()], "type": "invoice.paid",
            "data": ["object": object],
        ])
        return try Event.decode(event).object(as: StripeInvoice.self)
    }

    func apply(_ type: String, at created: Instant, to status: Billing.InvoiceStatus, payment: PaymentState = PaymentState(),
               reason: String? = nil, last: Instant? = nil, remote changes: [String: Any] = [:]) throws
        -> (status: Billing.InvoiceStatus, payment: PaymentState, reason: String?)? {
        PaymentStateRule.apply(event: type, remote: try remote(changes), created: created, status: status, payment: payment,
                               reason: reason, lastEventCreated: last)
    }

    @Test func aFailureRecordsTheEventsTimeAndStripesCounts() throws {
        let change = try #require(try apply("invoice.payment_failed", at: failedAt, to: .issued,
                                            remote: ["status": "open", "attempt_count": 2, "amount_due": 2900, "total": 2900]))
        #expect(change.status == .paymentFailed)
        #expect(change.payment.paymentFailedAt == failedAt)
        #expect(change.payment.attemptCount == 2 && change.payment.amountDue == 2900 && change.payment.stripeStatus == "open")
    }

    @Test func anEarlierFailureDeliveredLateMovesTheFailureTimeBackAndALaterOneDoesNot() throws {
        let failed = PaymentState(paymentFailedAt: failedAt)
        // Ten days earlier, after the newer event was applied: the time moves back, the reason stays.
        let earlier = try #require(try apply("invoice.payment_failed", at: failedAt + -10 * 86_400, to: .paymentFailed, payment: failed,
                                             reason: "card declined", last: failedAt))
        #expect(earlier.status == .paymentFailed && earlier.payment.paymentFailedAt == failedAt + -10 * 86_400 && earlier.reason == "card declined")
        // A day later (a retry that failed again): the first failure's time stands.
        let later = try #require(try apply("invoice.payment_failed", at: failedAt + 86_400, to: .paymentFailed, payment: failed, last: failedAt))
        #expect(later.payment.paymentFailedAt == failedAt)
    }

    @Test func nothingMovesAFinalStateOrBackwards() throws {
        for final in [Billing.InvoiceStatus.paid, .void, .uncollectible] {
            for type in ["invoice.payment_failed", "invoice.paid", "invoice.finalized", "invoice.voided"] {
                #expect(try apply(type, at: failedAt, to: final) == nil, "\(type) on \(final)")
            }
        }
        // A failed payment is not moved back to issued by invoice.finalized, whenever it comes.
        #expect(try apply("invoice.finalized", at: failedAt + 60, to: .paymentFailed, payment: PaymentState(paymentFailedAt: failedAt)) == nil)
        // An invoice not issued yet is the issue stage's.
        #expect(try apply("invoice.paid", at: failedAt, to: .issuing) == nil)
        // finalization_failed is the issue stage's to record.
        #expect(try apply("invoice.finalization_failed", at: failedAt, to: .issued) == nil)
    }

    @Test func aPaymentEndsAFailureWithStripesPaidTime() throws {
        let paidAt = failedAt + 3600
        let change = try #require(try apply("invoice.paid", at: failedAt + 7200, to: .paymentFailed, payment: PaymentState(paymentFailedAt: failedAt),
                                            reason: "card declined",
                                            remote: ["status": "paid", "amount_paid": 2900, "amount_due": 2900,
                                                     "status_transitions": ["paid_at": paidAt.seconds]]))
        #expect(change.status == .paid && change.payment.paidAt == paidAt && change.payment.amountPaid == 2900)
        #expect(change.reason == nil, "a paid invoice has no failure reason")
        // Without Stripe's transition time, the event's.
        let bare = try #require(try apply("invoice.voided", at: failedAt, to: .issued))
        #expect(bare.status == .void && bare.payment.voidedAt == failedAt)
    }

    @Test func anActionRequiredPaymentIsAFailureThatSaysWhatTheCustomerMustDo() throws {
        let change = try #require(try apply("invoice.payment_action_required", at: failedAt, to: .issued,
                                            remote: ["hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/in_1"]))
        #expect(change.status == .paymentFailed && change.payment.paymentFailedAt == failedAt)
        #expect(change.reason?.hasPrefix("authentication required") == true && change.reason?.hasSuffix("at https://invoice.stripe.com/i/acct_1/in_1") == true,
                "\(change.reason ?? "")")
    }

    @Test func anOlderEventOfTheSameStateChangesNothing() throws {
        #expect(try apply("invoice.finalized", at: failedAt + -60, to: .issued, last: failedAt) == nil)
        let same = try #require(try apply("invoice.finalized", at: failedAt + 60, to: .issued, last: failedAt))
        #expect(same.status == .issued)
    }
}
