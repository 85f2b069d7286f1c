/// The bill run's stages, in the order they run: periods are closed, rated into invoices, taxed,
/// issued, their payments collected, and the issued invoices reconciled with Stripe. The job
/// ledger records each by name.
public enum Stage: String, CaseIterable, Sendable, Comparable {
    case close, rate, tax, issue, collect, reconcile

    public static func < (lhs: Stage, rhs: Stage) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
