import Foundation

/// What payment access needs to know about one of the customer's invoices.
public struct InvoicePaymentFacts: Hashable, Sendable {
    public var id: String
    public var status: InvoiceStatus
    /// When a payment failure was first recorded for this invoice (the collect stage's
    /// "when each change was seen"); grace counts from here.
    public var firstPaymentFailureAt: Instant?

    public init(id: String, status: InvoiceStatus, firstPaymentFailureAt: Instant? = nil) {
        self.id = id
        self.status = status
        self.firstPaymentFailureAt = firstPaymentFailureAt
    }
}

public enum PaymentAccessDecision: Hashable, Sendable {
    case allowed
    /// A payment failed; access continues until `until` (exclusive).
    case inGracePeriod(invoiceId: String, until: Instant)
    /// `reason` names the invoice and says how to restore access.
    case blocked(invoiceId: String, reason: String)
}

/// Whether unpaid invoices cut a customer's API access.
public enum PaymentAccess {
    public static let metadataKey = "max_payment_overdue_days"
    public static let defaultGraceDays = 3

    /// The grace days: customer metadata `max_payment_overdue_days`, else the plan's, else the
    /// installation's `maxPaymentOverdueDays`, else 3. A value that is not a non-negative whole
    /// number (ASCII digits only: "3", not "3.0", "-1", " 3" or "three") is skipped to the next
    /// level, as is a negative installation value: a typo in metadata should neither block a
    /// customer at once nor grant unlimited grace.
    public static func graceDays(customerMetadata: [String: String], planMetadata: [String: String],
                                 installationDefault: Int?) -> Int {
        if let days = wholeDays(customerMetadata[metadataKey]) { return days }
        if let days = wholeDays(planMetadata[metadataKey]) { return days }
        if let days = installationDefault, days >= 0 { return days }
        return defaultGraceDays
    }

    /// Decides access from the customer's invoices.
    ///
    /// `paid`, `not_required` and `issued` give access. `payment_failed` gives access until
    /// failure + grace days x 86,400 s, a half-open span: at that instant access ends. A
    /// failure with no recorded instant counts from `now`, since the collect stage records it
    /// when it first sees the failure. `uncollectible` blocks. Invoices Tollbooth has not
    /// issued (`draft` to `issuing`, `failed`) never block; `void` is ignored.
    ///
    /// Blocked wins over grace. Among several blocking invoices the one with the smallest id is
    /// named; among several in grace, the one whose grace ends first, so the answer does not
    /// depend on the order of `invoices`.
    public static func decide(invoices: [InvoicePaymentFacts], graceDays: Int, now: Instant) -> PaymentAccessDecision {
        let grace = Int64(max(0, graceDays)) * 86_400
        var blocked: (id: String, reason: String)?
        var inGrace: (id: String, until: Instant)?
        for invoice in invoices {
            switch invoice.status {
            case .paid, .notRequired, .issued:
                continue
            case .draft, .rated, .taxed, .issuing, .failed:
                continue
            case .void:
                continue
            case .uncollectible:
                let reason = "invoice \(invoice.id) was marked uncollectible: pay the invoice to restore access"
                blocked = pickBlocked(blocked, (invoice.id, reason))
            case .paymentFailed:
                let failedAt = invoice.firstPaymentFailureAt ?? now
                let until = failedAt + grace
                if now < until {
                    if inGrace.map({ until < $0.until || (until == $0.until && invoice.id < $0.id) }) ?? true {
                        inGrace = (invoice.id, until)
                    }
                } else {
                    let reason = "invoice \(invoice.id) payment failed \(ago(now - failedAt)); "
                        + "\(graceText(graceDays: max(0, graceDays))): pay the invoice to restore access"
                    blocked = pickBlocked(blocked, (invoice.id, reason))
                }
            }
        }
        if let blocked { return .blocked(invoiceId: blocked.id, reason: blocked.reason) }
        if let inGrace { return .inGracePeriod(invoiceId: inGrace.id, until: inGrace.until) }
        return .allowed
    }

    static func wholeDays(_ text: String?) -> Int? {
        guard let text, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }

    private static func pickBlocked(_ current: (id: String, reason: String)?,
                                    _ candidate: (id: String, reason: String)) -> (id: String, reason: String) {
        guard let current, current.id <= candidate.id else { return candidate }
        return current
    }

    private static func ago(_ seconds: Int64) -> String {
        let days = seconds / 86_400
        switch days {
        case ..<1: return "less than a day ago"
        case 1: return "1 day ago"
        default: return "\(days) days ago"
        }
    }

    private static func graceText(graceDays: Int) -> String {
        switch graceDays {
        case 0: return "there is no grace period"
        case 1: return "grace period of 1 day is over"
        default: return "grace period of \(graceDays) days is over"
        }
    }
}
