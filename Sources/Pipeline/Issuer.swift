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

/// Puts one taxed invoice into Stripe exactly once: the Customer, a draft Invoice, one Invoice
/// Item per line, the lines' tax, a comparison of Stripe's total with ours, then finalize.
///
/// Every call carries an idempotency key derived from local ids (and the invoice's rerun
/// generation), and every answer is stored as soon as it arrives. When an earlier attempt may
/// have made objects the store does not name (it died between Stripe's answer and the write, or
/// Stripe's keys have expired since), the object is looked up in Stripe by its
/// `metadata[tollbooth_…]` before anything is created.
struct Issuer {
    /// Stripe's limit of lines on one invoice.
    static let maxLines = 250

    let store: Store
    let stripe: StripeClient
    let account: String
    let failpoints: Failpoints
    let now: Instant

    /// Issues `invoice`; nil when it was issued, else why not. Store errors are thrown.
    func issue(_ invoice: StoredInvoice, customer: Billing.Customer, tax: AppliedTax?) throws -> IssueFailure? {
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
            let customerId = try StripeCustomers(store: store, stripe: stripe, account: account, failpoints: failpoints, now: now)
                .ensure(customer, keys: keys)
            var (remote, adopted) = try ensureInvoice(invoice, customerId: customerId, resumed: resumed, stripe: stripe, keys: keys)
            if remote.status == .draft {
                let itemIds = try ensureItems(invoice, on: remote, customerId: customerId, lookUp: resumed || adopted, stripe: stripe, keys: keys)
                try attachTax(invoice, itemIds: itemIds, tax: tax, on: remote, stripe: stripe, keys: keys)
                // Read afresh: an answer replayed under an idempotency key is as Stripe held it then.
                remote = try stripe.retrieveInvoice(remote.id)
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

    // MARK: Invoice and items

    /// The Stripe invoice: the one the store names, else one an earlier attempt made (found by
    /// `metadata[tollbooth_invoice]` among the customer's invoices), else a new draft. `adopted`
    /// is true when it was not made by this call, so its items must be looked up too.
    func ensureInvoice(_ invoice: StoredInvoice, customerId: String, resumed: Bool, stripe: StripeClient,
                       keys: IdempotencyKeys) throws -> (Invoice, adopted: Bool) {
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

    /// One Invoice Item per line. Items an earlier attempt made are found by
    /// `metadata[tollbooth_line]` among the invoice's items before any is created. Returns the
    /// item id of every line.
    func ensureItems(_ invoice: StoredInvoice, on remote: Invoice, customerId: String, lookUp: Bool, stripe: StripeClient,
                     keys: IdempotencyKeys) throws -> [String: String] {
        var itemIds = Dictionary(invoice.lines.compactMap { line in line.stripeItemId.map { (line.id, $0) } }, uniquingKeysWith: { a, _ in a })
        if lookUp, itemIds.count < invoice.lines.count {
            let lineIds = Set(invoice.lines.map(\.id))
            for item in try stripe.allInvoiceItems(InvoiceItemListQuery(invoice: remote.id, page: Page(limit: 100))) {
                guard let lineId = item.metadata?[StripeMapping.lineKey], lineIds.contains(lineId), itemIds[lineId] == nil else { continue }
                try store.recordStripeItem(lineId: lineId, itemId: item.id)
                itemIds[lineId] = item.id
            }
        }
        for (index, line) in invoice.lines.enumerated() where itemIds[line.id] == nil {
            let item = try stripe.createInvoiceItem(StripeMapping.item(line, of: invoice, customerId: customerId, invoiceId: remote.id),
                                                    idempotencyKey: keys.key("line", line.id))
            failpoints.hit("issue.item.\(index + 1)")
            try store.recordStripeItem(lineId: line.id, itemId: item.id)
            itemIds[line.id] = item.id
        }
        return itemIds
    }

    /// Writes each taxed line's tax onto its Stripe line (`tax_amounts`) in one call.
    func attachTax(_ invoice: StoredInvoice, itemIds: [String: String], tax: AppliedTax?, on remote: Invoice, stripe: StripeClient,
                   keys: IdempotencyKeys) throws {
        guard invoice.lines.contains(where: { $0.line.taxAmount != 0 }) else { return }
        guard let tax else {
            throw StripeMappingError("invoice \(invoice.id) carries tax but no rate is recorded for it")
        }
        let lineByItem = Dictionary(try stripe.allInvoiceLines(invoice: remote.id).compactMap { line in line.invoiceItem.map { ($0, line.id) } },
                                    uniquingKeysWith: { a, _ in a })
        var updates: [InvoiceLinesUpdate.Line] = []
        for line in invoice.lines where line.line.taxAmount != 0 {
            guard let itemId = itemIds[line.id], let lineId = lineByItem[itemId] else {
                throw StripeMappingError("Stripe invoice \(remote.id) has no line for item \(itemIds[line.id] ?? "?") of \(line.id)")
            }
            updates.append(.init(id: lineId, changes: InvoiceLineUpdate(taxAmounts: [StripeMapping.taxAmount(line.line, tax: tax, currency: invoice.currency)])))
        }
        _ = try stripe.updateInvoiceLines(invoice: remote.id, InvoiceLinesUpdate(lines: updates), idempotencyKey: keys.key("tax", invoice.id))
        failpoints.hit("issue.tax")
    }

    /// Why Stripe's invoice may not be finalized: its currency, subtotal or total differ from
    /// ours. Nil when they agree.
    func difference(_ invoice: StoredInvoice, _ remote: Invoice) -> String? {
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
