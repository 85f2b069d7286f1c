import Billing
import Foundation
import Store

/// The invoice, subscription and customer JSON of DESIGN.md ("Command line"), shared by the
/// command line, the demo, reports and the server so every surface prints the same shape.
/// Amounts are decimal strings in major units with the currency's decimals ("12.30", JPY
/// "500"); times are RFC 3339; a missing value is `null`, never an absent key.
public enum InvoiceJSON {
    public static func invoice(_ invoice: StoredInvoice) -> JSONValue {
        func money(_ amount: Decimal) -> JSONValue { .string(Money(amount, invoice.currency).formatted) }
        let failure: JSONValue = invoice.failure.map {
            .object(["stage": .string($0.stage), "message": .string($0.message), "stripeRequestId": .string($0.stripeRequestId)])
        } ?? .null
        return .object([
            "id": .string(invoice.id),
            "customerKey": .string(invoice.customerKey),
            "currency": .string(invoice.currency.code),
            "billDate": .string(invoice.billDate.rfc3339),
            "periodStart": .string(invoice.periodStart?.rfc3339),
            "periodEnd": .string(invoice.periodEnd?.rfc3339),
            "status": .string(invoice.status.rawValue),
            "subtotal": money(invoice.subtotal),
            "tax": money(invoice.tax),
            "total": money(invoice.total),
            "stripeInvoiceId": .string(invoice.stripeInvoiceId),
            "number": .string(invoice.number),
            "hostedInvoiceUrl": .string(invoice.hostedInvoiceUrl),
            "invoicePdf": .string(invoice.invoicePdf),
            "failure": failure,
            "lines": .array(invoice.lines.map { line(($0.line), currency: invoice.currency) }),
        ])
    }

    public static func line(_ line: InvoiceLine, currency: Currency) -> JSONValue {
        .object([
            "kind": .string(line.kind.rawValue),
            "subscriptionId": .string(line.subscriptionId),
            "rateCardKey": .string(line.rateCardKey),
            "featureKey": .string(line.featureKey),
            "description": .string(line.description),
            "periodStart": .string(line.period.start.rfc3339),
            "periodEnd": .string(line.period.end.rfc3339),
            // A quantity is a count or a metered value, not money: its exact text.
            "quantity": .string(line.quantity?.plainString),
            "amount": .string(Money(line.amount, currency).formatted),
            "taxAmount": .string(Money(line.taxAmount, currency).formatted),
        ])
    }

    public static func invoices(_ invoices: [StoredInvoice]) -> JSONValue {
        .array(invoices.map(invoice))
    }
}

public enum SubscriptionJSON {
    /// What a subscription will do next, as `list` shows it at `now`.
    public struct Pending: Hashable, Sendable {
        /// The successor that a scheduled change starts after `now`.
        public var change: SubscriptionRecord?
        /// The scheduled end when it lies after `now` and no successor takes over.
        public var cancel: Instant?
    }

    /// `pendingChange` is the successor when it starts after `now`; `pendingCancel` the end
    /// when it is set, lies after `now` and no change caused it.
    public static func pending(_ record: SubscriptionRecord, successor: SubscriptionRecord?, now: Instant) -> Pending {
        var pending = Pending()
        if let successor, successor.subscription.start > now { pending.change = successor }
        if record.successorId == nil, let end = record.subscription.end, end > now { pending.cancel = end }
        return pending
    }

    public static func subscription(_ record: SubscriptionRecord, successor: SubscriptionRecord?, now: Instant) -> JSONValue {
        let s = record.subscription
        let pending = pending(record, successor: successor, now: now)
        let change: JSONValue = pending.change.map {
            .object(["id": .string($0.id), "planKey": .string($0.subscription.plan.key),
                     "planVersion": .number($0.subscription.plan.version), "at": .string($0.subscription.start.rfc3339)])
        } ?? .null
        return .object([
            "id": .string(s.id),
            "customerKey": .string(s.customerKey),
            "planKey": .string(s.plan.key),
            "planVersion": .number(s.plan.version),
            "anchor": .string(s.anchor.rfc3339),
            "start": .string(s.start.rfc3339),
            "end": .string(s.end?.rfc3339),
            "status": .string(s.status(at: now).rawValue),
            "pendingChange": change,
            "pendingCancel": .string(pending.cancel?.rfc3339),
            "successorId": .string(record.successorId),
        ])
    }

    /// Every record, each with its successor looked up among `records`.
    public static func subscriptions(_ records: [SubscriptionRecord], now: Instant) -> JSONValue {
        let byId = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return .array(records.map { subscription($0, successor: $0.successorId.flatMap { byId[$0] }, now: now) })
    }
}

public enum CustomerJSON {
    /// The customers JSON of DESIGN.md ("Formats"), so a listed customer imports back unchanged.
    public static func customer(_ customer: Customer) -> JSONValue {
        let a = customer.billingAddress
        var address: [String: JSONValue] = [:]
        for (key, value) in [("country", a.country), ("postalCode", a.postalCode), ("state", a.state), ("city", a.city), ("line1", a.line1)] {
            if let value { address[key] = .string(value) }
        }
        return .object([
            "key": .string(customer.key),
            "name": .string(customer.name),
            "email": .string(customer.email),
            "currency": .string(customer.currency?.code),
            "billingAddress": .object(address),
            "taxExempt": .string(customer.taxExempt.rawValue),
            "taxIds": .array(customer.taxIds.map { .object(["type": .string($0.type), "value": .string($0.value)]) }),
            "usageAttribution": .object(["subjectKeys": .array(customer.subjectKeys.map { .string($0) })]),
            "metadata": .object(customer.metadata.mapValues { .string($0) }),
        ])
    }
}
