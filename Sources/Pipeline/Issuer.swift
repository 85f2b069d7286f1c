import Billing
import Foundation
import Logging
import Store
import Stripe

/// The Stripe account and client the issue and collect stages call.
public struct StripeConnection: Sendable {
    public let client: StripeClient
    /// The account the key belongs to: Stripe ids are recorded per account.
    public let account: String

    public init(client: StripeClient, account: String) {
        self.client = client
        self.account = account
    }
}

/// Why an invoice was not issued.
enum IssueFailure: Error {
    /// A Stripe call failed after its retries.
    case stripe(StripeError)
    /// Tollbooth refused to go on (too many lines, Stripe's total differs from ours).
    case refused(String)

    var failure: StoredInvoice.Failure {
        switch self {
        case .stripe(let error):
            return StoredInvoice.Failure(stage: Stage.issue.rawValue, message: error.description, stripeRequestId: error.requestId)
        case .refused(let message):
            return StoredInvoice.Failure(stage: Stage.issue.rawValue, message: message)
        }
    }

    /// A key Stripe refuses, or one without a permission: every other invoice would fail the same way.
    var stopsTheStage: Bool {
        guard case .stripe(let error) = self else { return false }
        return error.status == 401 || error.permission != nil
    }
}

/// Puts one taxed invoice into Stripe exactly once: the Customer, a draft Invoice, its lines in
/// bulk (`add_lines`, tax amounts included, `linesPerRequest` a call), the Customer's saved card
/// made its default when it has none, a comparison of Stripe's totals (from the last
/// `add_lines` answer) with ours, then finalize.
///
/// Every call carries an idempotency key derived from local ids (and the invoice's rerun
/// generation), and every answer is stored as soon as it arrives. When an earlier attempt may
/// have made objects the store does not name (it died between Stripe's answer and the write, or
/// Stripe's keys have expired since), the object is looked up in Stripe by its
/// `metadata[tollbooth_…]` before anything is created, and only lines Stripe does not have are sent.
struct Issuer {
    /// Stripe's limit of lines on one invoice.
    static let maxLines = 250

    let store: any Store
    let stripe: StripeClient
    let account: String
    let failpoints: Failpoints
    let now: Instant
    /// Lines per `add_lines` call.
    var linesPerRequest = 50

    /// Issues `invoice`; nil when it was issued, else why not. Store errors are thrown.
    func issue(_ invoice: StoredInvoice, customer: Customer, tax: AppliedTax?) throws -> IssueFailure? {
        if invoice.lines.count > Issuer.maxLines {
            return .refused("invoice \(invoice.id) has \(invoice.lines.count) lines and a Stripe invoice holds at most \(Issuer.maxLines): split the customer's charges (fewer rate cards or a longer billing cadence), then `tollbooth rerun \(invoice.id)`")
        }
        // Anything of an earlier attempt may be in Stripe without the store knowing.
        let resumed = invoice.issuing.startedAt != nil
        try store.startIssuing(invoiceId: invoice.id, account: account, at: now)
        var stripe = self.stripe
        stripe.logger[metadataKey: "invoice.id"] = "\(invoice.id)"
        let keys = IdempotencyKeys(generation: invoice.issuing.generation)
        do {
            let customers = StripeCustomers(store: store, stripe: stripe, account: account, failpoints: failpoints, now: now)
            let (customerId, madeNow) = try customers.ensureReportingCreation(customer, keys: keys)
            var (remote, adopted) = try ensureInvoice(invoice, customerId: customerId, resumed: resumed, stripe: stripe, keys: keys)
            if remote.status == .draft {
                let lastAnswer = try ensureLines(invoice, on: remote, tax: tax, lookUp: resumed || adopted, stripe: stripe, keys: keys)
                // A Customer made by this very attempt has no saved card yet.
                if madeNow {
                    try customers.recordCreatedWithoutPaymentMethods(customer.key)
                } else {
                    try customers.ensureDefaultPaymentMethod(customer.key, stripeId: customerId)
                }
                // With nothing sent now, the totals come from a read: a replayed answer is as Stripe held it then.
                remote = try lastAnswer ?? stripe.retrieveInvoice(remote.id)
                if let difference = difference(invoice, remote) { return .refused(difference) }
                remote = try stripe.finalizeInvoice(remote.id, autoAdvance: true, idempotencyKey: keys.key("finalize", invoice.id))
                failpoints.hit("issue.finalize")
            }
            try store.markIssued(invoiceId: invoice.id, number: remote.number, hostedInvoiceUrl: remote.hostedInvoiceUrl,
                                 invoicePdf: remote.invoicePdf, stripeTotal: remote.total, at: now)
            return nil
        } catch let error as StripeError {
            return .stripe(error)
        } catch let error as StripeMappingError {
            return .refused(error.description)
        }
    }

    // MARK: Invoice and lines

    /// The Stripe invoice: the one the store names, else one an earlier attempt made (found by
    /// `metadata[tollbooth_invoice]` among the customer's invoices), else a new draft. `adopted`
    /// is true when it was not made by this call, so its lines must be looked up too.
    func ensureInvoice(_ invoice: StoredInvoice, customerId: String, resumed: Bool, stripe: StripeClient,
                       keys: IdempotencyKeys) throws -> (StripeInvoice, adopted: Bool) {
        if let id = invoice.stripeInvoiceId {
            return (try stripe.retrieveInvoice(id), true)
        }
        if resumed, let found = try stripe.allInvoices(InvoiceListQuery(customer: customerId, page: Page(limit: 100)))
            .first(where: { $0.metadata?[StripeMapping.invoiceKey] == invoice.id && $0.status != .void }) {
            try store.recordStripeInvoice(invoiceId: invoice.id, stripeId: found.id, at: now)
            return (found, true)
        }
        let created = try stripe.createInvoice(StripeMapping.invoice(invoice, customerId: customerId),
                                               idempotencyKey: keys.key("invoice", invoice.id))
        failpoints.hit("issue.invoice")
        try store.recordStripeInvoice(invoiceId: invoice.id, stripeId: created.id, at: now)
        return (created, false)
    }

    /// Puts every line not yet on the Stripe invoice there, `linesPerRequest` to an `add_lines`
    /// call, each with its tax. With `lookUp`, the invoice's lines are listed first and those
    /// whose `metadata[tollbooth_line]` names one of ours are recorded, not sent again. Returns
    /// the last call's answer, nil when nothing was sent.
    func ensureLines(_ invoice: StoredInvoice, on remote: StripeInvoice, tax: AppliedTax?, lookUp: Bool, stripe: StripeClient,
                     keys: IdempotencyKeys) throws -> StripeInvoice? {
        var pending = invoice.lines.filter { !$0.isOnStripe }
        if lookUp, !pending.isEmpty {
            let wanted = Set(pending.map(\.id))
            var found = Set<String>()
            for line in try stripe.allInvoiceLines(invoice: remote.id) {
                guard let lineId = line.metadata[StripeMapping.lineKey], wanted.contains(lineId), !found.contains(lineId) else { continue }
                if let itemId = line.invoiceItem {
                    try store.recordStripeItem(lineId: lineId, itemId: itemId)
                }
                found.insert(lineId)
            }
            pending.removeAll { found.contains($0.id) }
        }
        var answer: StripeInvoice?
        var chunk = 0
        for start in stride(from: 0, to: pending.count, by: max(1, linesPerRequest)) {
            let lines = Array(pending[start..<min(pending.count, start + max(1, linesPerRequest))])
            chunk += 1
            let key = keys.key("lines", "\(invoice.id)-\(lines[0].id)")
            let params = InvoiceLinesAdd(lines: try lines.map { try StripeMapping.addedLine($0, of: invoice, tax: tax) })
            answer = try stripe.addInvoiceLines(invoice: remote.id, params, idempotencyKey: key)
            failpoints.hit("issue.lines.\(chunk)")
            try store.recordStripeLines(lineIds: lines.map(\.id), key: key)
        }
        return answer
    }

    /// Why Stripe's invoice may not be finalized: its currency, subtotal or total differ from
    /// ours. Nil when they agree.
    func difference(_ invoice: StoredInvoice, _ remote: StripeInvoice) -> String? {
        let currency = invoice.currency
        let show = { (minor: Int64) in Money(minorUnits: minor, currency).description }
        if remote.currency.uppercased() != currency.code {
            return "Stripe invoice \(remote.id) is in \(remote.currency.uppercased()), invoice \(invoice.id) in \(currency.code); not finalized"
        }
        let subtotal = Money(invoice.subtotal, currency).minorUnits, total = Money(invoice.total, currency).minorUnits
        if remote.subtotal != subtotal || remote.total != total {
            return "Stripe's total for \(remote.id) is \(show(remote.total)) (subtotal \(show(remote.subtotal))), Tollbooth's for \(invoice.id) is \(show(total)) (subtotal \(show(subtotal))); not finalized: compare its items in the Stripe Dashboard, then `tollbooth rerun \(invoice.id)`"
        }
        return nil
    }
}

/// A Stripe answer Tollbooth cannot use as it stands.
struct StripeMappingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Idempotency keys from local ids: the same object gets the same key in every attempt of one
/// generation; `rerun` starts a new generation, since Stripe replays a stored error under an old key.
struct IdempotencyKeys {
    let generation: Int

    func key(_ kind: String, _ id: String) -> String {
        "tollbooth-\(kind)-\(id)" + (generation > 0 ? "-r\(generation)" : "")
    }
}
