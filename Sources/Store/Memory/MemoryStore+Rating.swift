import Billing
import Foundation

// The rate and tax stages' group reads and writes: each the single call it stands for, once per
// item, in one transaction (in memory a statement costs nothing to set up).

extension MemoryStore {
    public func ratingReads(customerKeys: [String], catalog: Catalog, usageFrom: Instant, usageTo: Instant) throws -> RatingReads {
        try readTransaction {
            var subscriptions: [String: [SubscriptionRecord]] = [:]
            var open: Set<String> = []
            let always = Instant(seconds: Int64.max)
            for key in Set(customerKeys) {
                let records = try self.subscriptions(customerKey: key, catalog: catalog)
                if !records.isEmpty { subscriptions[key] = records }
                if try !openCredits(customerKey: key).isEmpty || !openAdjustments(customerKey: key, before: always).isEmpty
                    || !openRebills(customerKey: key, before: always).isEmpty {
                    open.insert(key)
                }
            }
            return RatingReads(subscriptions: subscriptions, customersWithOpenItems: open, usage: self)
        }
    }

    @discardableResult
    public func insertInvoices(_ drafts: [DraftInvoice], runId: Int64, at now: Instant) throws -> [String] {
        try transaction { try drafts.map { try insertInvoice($0, runId: runId, at: now) } }
    }

    public func updateTax(_ updates: [TaxUpdate], status: InvoiceStatus, at now: Instant) throws {
        try transaction {
            for update in updates {
                try updateTax(invoiceId: update.invoiceId, lines: update.lines, note: update.note, applied: update.applied,
                              calculationId: update.calculationId, status: status, at: now)
            }
        }
    }

    public func invoices(ids: [String]) throws -> [StoredInvoice] {
        try readTransaction { try ids.compactMap { try invoice(id: $0) } }
    }

    public func close(_ closes: [(subscriptionId: String, customerKey: String, billDate: Instant)], run: Int64) throws -> Int {
        try transaction {
            try closes.reduce(0) { count, close in
                count + (try self.close(subscriptionId: close.subscriptionId, customerKey: close.customerKey, billDate: close.billDate, run: run) ? 1 : 0)
            }
        }
    }

    public func markRated(_ bills: [(bill: PendingBill, invoiceId: String?)], run: Int64) throws {
        try transaction { for rated in bills { try markRated(rated.bill, run: run, invoiceId: rated.invoiceId) } }
    }

    public func customerCurrencies() throws -> [String: Currency?] {
        var result: [String: Currency?] = [:]
        for customer in try customers() { result[customer.key] = .some(customer.currency) }
        return result
    }
}
