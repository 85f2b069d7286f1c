import Billing
import Foundation

extension SQLRepositories {
    public func startReconciliation(runId: Int64?, from: Instant, to: Instant, account: String, at now: Instant) throws -> Int64 {
        try connection.insertReturningId("""
            INSERT INTO reconciliations (run_id, from_bill_date, to_bill_date, account, created_at) VALUES (?, ?, ?, ?, ?)
            """, [SQLValue(runId), from.sql, to.sql, .text(account), now.sql])
    }

    public func recordDifference(_ difference: ReconciliationDifference, reconciliation: Int64) throws {
        try connection.run("""
            INSERT INTO reconciliation_differences (reconciliation_id, invoice_id, stripe_invoice_id, customer_key, kind, local_value,
                                                    stripe_value, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, [.integer(reconciliation), SQLValue(difference.invoiceId), SQLValue(difference.stripeInvoiceId),
                  SQLValue(difference.customerKey), .text(difference.kind.rawValue), SQLValue(difference.local),
                  SQLValue(difference.stripe), .text(difference.detail)])
    }

    public func finishReconciliation(_ id: Int64, compared: Int, at now: Instant) throws {
        try connection.run("UPDATE reconciliations SET compared = ?, finished_at = ? WHERE id = ?", [.integer(Int64(compared)), now.sql, .integer(id)])
    }

    /// The latest finished reconciliation whose range covers `[from, to)`, if any.
    public func latestReconciliation(covering from: Instant, _ to: Instant) throws -> Reconciliation? {
        try connection.first("""
            SELECT id, from_bill_date, to_bill_date, account, compared, created_at, finished_at FROM reconciliations
            WHERE from_bill_date <= ? AND to_bill_date >= ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1
            """, [from.sql, to.sql]).map { row in
            Reconciliation(id: row.int(0) ?? 0, from: row.instant(1) ?? from, to: row.instant(2) ?? to, account: row.string(3) ?? "",
                           compared: Int(row.int(4) ?? 0), createdAt: row.instant(5) ?? from, finishedAt: row.instant(6))
        }
    }

    /// The differences one reconciliation found, in the order found.
    public func differences(reconciliation: Int64) throws -> [ReconciliationDifference] {
        try connection.query("""
            SELECT invoice_id, stripe_invoice_id, customer_key, kind, local_value, stripe_value, detail
            FROM reconciliation_differences WHERE reconciliation_id = ? ORDER BY id
            """, [.integer(reconciliation)]).map { row in
            ReconciliationDifference(invoiceId: row.string(0), stripeInvoiceId: row.string(1), customerKey: row.string(2),
                                     kind: ReconciliationDifference.Kind(rawValue: row.string(3) ?? "") ?? .status,
                                     local: row.string(4), stripe: row.string(5), detail: row.string(6) ?? "")
        }
    }
}
