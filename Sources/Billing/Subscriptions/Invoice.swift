import Foundation

/// The life of an invoice: Tollbooth's own stages, then Stripe's payment states.
public enum InvoiceStatus: String, Hashable, Sendable, CaseIterable {
    case draft
    case rated
    case taxed
    case issuing
    case issued
    case paid
    case paymentFailed = "payment_failed"
    case uncollectible
    case void
    /// A zero total: nothing to collect, no Stripe invoice.
    case notRequired = "not_required"
    /// A stage of Tollbooth's own stopped it; `rerun` resumes from that stage.
    case failed
}

/// What an invoice line is for.
public enum LineKind: String, Hashable, Sendable, CaseIterable {
    case fee
    case usage
    case prorationCredit = "proration_credit"
    case prorationCharge = "proration_charge"
    case lateUsage = "late_usage"
    case discount
    case commitment
    case adjustment
}
