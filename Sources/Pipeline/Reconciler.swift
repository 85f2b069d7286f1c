import Billing
import Foundation
import Store
import Stripe

/// The reconcile stage: compares every local invoice of a range of bill dates that reached
/// Stripe with Stripe's invoice, and looks for Stripe invoices naming a Tollbooth invoice the
/// store does not have. Each difference is recorded; nothing is corrected.
struct Reconciler {
    let store: any Store
    let stripe: StripeClient
    let account: String
    let now: Instant

    struct Outcome {
        var compared = 0
        var differences: [ReconciliationDifference] = []
        /// Invoices Stripe could not be asked about (network, rate limit): compared next time.
        var unread: [String] = []
    }

    /// Compares the invoices with bill dates in `[from, to)`; orphans are looked for among every
    /// Stripe invoice created since `from`.
    func reconcile(from: Instant, to: Instant, runId: Int64?) throws -> Outcome {
        let reconciliation = try store.startReconciliation(runId: runId, from: from, to: to, account: account, at: now)
        var outcome = Outcome()
        let lineCounts = try store.lineCounts(billDateFrom: from, to: to)
        for invoice in try store.invoices(billDateFrom: from, to: to, withLines: false) {
            guard let stripeId = invoice.stripeInvoiceId, Reconciler.expectedStatus(invoice.status) != nil else { continue }
            do {
                let remote = try stripe.retrieveInvoice(stripeId)
                let itemCount = remote.lines.hasMore ? try stripe.allInvoiceLines(invoice: stripeId).count : remote.lines.data.count
                if remote.currency.uppercased() == invoice.currency.code { try store.recordStripeTotal(invoiceId: invoice.id, remote.total) }
                outcome.differences += Reconciler.compare(invoice, lines: lineCounts[invoice.id] ?? 0, remote, itemCount: itemCount)
            } catch let error as StripeError where error.status == 404 {
                outcome.differences.append(ReconciliationDifference(
                    invoiceId: invoice.id, stripeInvoiceId: stripeId, customerKey: invoice.customerKey, kind: .missingInStripe,
                    local: Money(invoice.total, invoice.currency).description, stripe: nil,
                    detail: "Tollbooth issued \(invoice.id) as \(stripeId), which Stripe does not have (\(error.message))"))
            } catch let error as StripeError {
                outcome.unread.append("\(invoice.id): \(error.description)")
                continue
            }
            outcome.compared += 1
        }
        do {
            outcome.differences += try orphans(since: from)
        } catch let error as StripeError {
            outcome.unread.append("the list of Stripe invoices: \(error.description)")
        }
        for difference in outcome.differences { try store.recordDifference(difference, reconciliation: reconciliation) }
        try store.finishReconciliation(reconciliation, compared: outcome.compared, at: now)
        return outcome
    }

    /// Stripe's status for each local one, for invoices that reached Stripe; nil for the rest.
    static func expectedStatus(_ status: InvoiceStatus) -> StripeInvoiceStatus? {
        switch status {
        case .issued, .paymentFailed: return .open
        case .paid: return .paid
        case .uncollectible: return .uncollectible
        case .void: return .void
        case .draft, .rated, .taxed, .issuing, .notRequired, .failed: return nil
        }
    }

    /// The differences between a local invoice and Stripe's.
    static func compare(_ invoice: StoredInvoice, lines: Int, _ remote: StripeInvoice, itemCount: Int) -> [ReconciliationDifference] {
        var found: [ReconciliationDifference] = []
        func add(_ kind: ReconciliationDifference.Kind, _ local: String?, _ stripe: String?, _ detail: String) {
            found.append(ReconciliationDifference(invoiceId: invoice.id, stripeInvoiceId: remote.id, customerKey: invoice.customerKey,
                                                  kind: kind, local: local, stripe: stripe, detail: detail))
        }
        let currency = invoice.currency
        if remote.currency.uppercased() != currency.code {
            add(.currency, currency.code, remote.currency.uppercased(),
                "\(invoice.id) is in \(currency.code), Stripe's \(remote.id) in \(remote.currency.uppercased())")
            return found
        }
        let money = { (minor: Int64) in Money(minorUnits: minor, currency).description }
        let total = Money(invoice.total, currency).minorUnits
        if remote.total != total {
            add(.total, money(total), money(remote.total),
                "Stripe's total for \(remote.id) is \(money(remote.total)), Tollbooth's for \(invoice.id) \(money(total)): a difference of \(money(remote.total - total))")
        }
        if itemCount != lines {
            add(.itemCount, "\(lines)", "\(itemCount)", "\(invoice.id) has \(lines) lines, Stripe's \(remote.id) \(itemCount)")
        }
        if let expected = expectedStatus(invoice.status), let status = remote.status, status != expected {
            add(.status, invoice.status.rawValue, status.rawValue,
                "Tollbooth holds \(invoice.id) as \(invoice.status.rawValue), Stripe holds \(remote.id) as \(status.rawValue): the collect stage brings Stripe's payment state back; anything else needs a look in the Stripe Dashboard")
        }
        if remote.startingBalance != 0 {
            let what = remote.startingBalance < 0 ? "a credit" : "a debt"
            add(.carriedBalance, nil, money(remote.startingBalance),
                "Stripe applied \(what) of \(money(abs(remote.startingBalance))) from the customer's balance (such as an earlier amount below Stripe's minimum charge): amount due \(money(remote.amountDue)), paid \(money(remote.amountPaid))")
        }
        return found
    }

    /// Stripe invoices created since `from` that name a Tollbooth invoice in
    /// `metadata[tollbooth_invoice]` which the store does not have, or has under another Stripe id.
    func orphans(since from: Instant) throws -> [ReconciliationDifference] {
        var found: [ReconciliationDifference] = []
        for remote in try stripe.allInvoices(InvoiceListQuery(createdSince: from.seconds, page: Page(limit: 100)))
        where remote.created >= from.seconds {
            guard let id = remote.metadata?[StripeMapping.invoiceKey] else { continue }
            let local = try store.invoice(id: id)
            // The store names it, or will adopt it at the next issue (the run died before it stored the id).
            if let local, local.stripeInvoiceId == remote.id || local.stripeInvoiceId == nil { continue }
            let total = Currency(code: remote.currency.uppercased()).map { Money(minorUnits: remote.total, $0).description } ?? "\(remote.total) \(remote.currency)"
            let what = "Stripe invoice \(remote.id) (\(total), \(remote.status?.rawValue ?? "no status")) names \(id)"
            let detail = local.map { "\(what), which Tollbooth issued as \($0.stripeInvoiceId ?? ""): a second Stripe invoice for one of ours" }
                ?? "\(what), which Tollbooth does not have"
            found.append(ReconciliationDifference(invoiceId: local == nil ? nil : id, stripeInvoiceId: remote.id, customerKey: local?.customerKey,
                                                  kind: .orphan, local: nil, stripe: total, detail: detail))
        }
        return found
    }
}
