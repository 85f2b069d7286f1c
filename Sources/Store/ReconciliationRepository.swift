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

extension Store {
    public func startReconciliation(runId: Int64?, from: Instant, to: Instant, account: String, at now: Instant) throws -> Int64 {
        try database.run("""
            INSERT INTO reconciliations (run_id, from_bill_date, to_bill_date, account, created_at) VALUES (?, ?, ?, ?, ?)
            """, [SQLValue(runId), from.sql, to.sql, .text(account), now.sql])
        return database.lastInsertRowID
    }

    public func recordDifference(_ difference: ReconciliationDifference, reconciliation: Int64) throws {
        try database.run("""
            INSERT INTO reconciliation_differences (reconciliation_id, invoice_id, stripe_invoice_id, customer_key, kind, local_value,
                                                    stripe_value, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(reconciliation), SQLValue(difference.invoiceId), SQLValue(difference.stripeInvoiceId),
                  SQLValue(difference.customerKey), .text(difference.kind.rawValue), SQLValue(difference.local),
                  SQLValue(difference.stripe), .text(difference.detail)])
    }

    public func finishReconciliation(_ id: Int64, compared: Int, at now: Instant) throws {
        try database.run("UPDATE reconciliations SET compared = ?, finished_at = ? WHERE id = ?", [.integer(Int64(compared)), now.sql, .integer(id)])
    }

    /// The latest finished reconciliation whose range covers `[from, to)`, if any.
    public func latestReconciliation(covering from: Instant, _ to: Instant) throws -> Reconciliation? {
        try database.first("""
            SELECT id, from_bill_date, to_bill_date, account, compared, created_at, finished_at FROM reconciliations
            WHERE from_bill_date <= ? AND to_bill_date >= ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1
            """, [from.sql, to.sql]).map { row in
            Reconciliation(id: row.int(0) ?? 0, from: row.instant(1) ?? from, to: row.instant(2) ?? to, account: row.string(3) ?? "",
                           compared: Int(row.int(4) ?? 0), createdAt: row.instant(5) ?? from, finishedAt: row.instant(6))
        }
    }

    /// The differences one reconciliation found, in the order found.
    public func differences(reconciliation: Int64) throws -> [ReconciliationDifference] {
        try database.query("""
            SELECT invoice_id, stripe_invoice_id, customer_key, kind, local_value, stripe_value, detail
            FROM reconciliation_differences WHERE reconciliation_id = ? ORDER BY id
            """, [.integer(reconciliation)]).map { row in
            ReconciliationDifference(invoiceId: row.string(0), stripeInvoiceId: row.string(1), customerKey: row.string(2),
                                     kind: ReconciliationDifference.Kind(rawValue: row.string(3) ?? "") ?? .status,
                                     local: row.string(4), stripe: row.string(5), detail: row.string(6) ?? "")
        }
    }
}
