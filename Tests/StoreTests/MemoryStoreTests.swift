import Foundation
import Testing
@testable import Billing
@testable import Store
import TestSupport

/// `MemoryStore` against `SQLiteStore`: one scenario driven through both, every read compared.
/// A drift between the two implementations (an order, a refusal, an amount, a counter) fails here.
@Suite struct MemoryStoreTests {
    @Test func aScenarioReadsTheSameFromMemoryAsFromSQLite() throws {
        let sqlite = try MemoryStoreScenario.run(try temporaryStore())
        let memory = try MemoryStoreScenario.run(MemoryStore())
        #expect(sqlite.count == memory.count)
        for (expected, found) in zip(sqlite, memory) where expected != found {
            Issue.record("SQLite read\n\(expected)\nmemory read\n\(found)")
        }
        // The scenario reached what it meant to: a void billed again, late usage, credits, refusals.
        let all = memory.joined(separator: "\n")
        for sign in ["refused conflict", "refused invalid(Optional(\"plan\"))", "refused notFound", "LineKind.lateUsage", "billed again from voided",
                     "LineKind.prorationCredit", "LineKind.adjustment", "late written: 1", "rolled back: [\"goodwill\"]", "constraint: true"] {
            #expect(all.contains(sign), "the scenario never shows \(sign)")
        }
    }

    @Test func aScenarioReadsTheSameFromPostgreSQLAsFromSQLite() throws {
        // PostgreSQL's counters move once per transaction, SQLite's once per row: the two agree
        // on which counters moved, not by how much.
        let sqlite = try MemoryStoreScenario.run(try temporaryStore(), countersByRow: false)
        let postgres = try MemoryStoreScenario.run(try PostgresStore(url: try PostgresServer.shared().makeDatabase()), countersByRow: false)
        #expect(sqlite.count == postgres.count)
        for (expected, found) in zip(sqlite, postgres) where expected != found {
            Issue.record("SQLite read\n\(expected)\nPostgreSQL read\n\(found)")
        }
    }

    @Test func aTransactionThatThrowsLeavesNothingBehindAndNestsAsSavepoints() throws {
        let store = MemoryStore()
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd)], at: t("2026-04-01T00:00:00Z"))
        struct Stop: Error {}
        try store.transaction {
            _ = try store.addAdjustment(customerKey: "acme", amount: d("1.00"), reason: "kept", at: t("2026-04-01T00:00:00Z"))
            #expect(throws: Stop.self) {
                try store.transaction {
                    _ = try store.addAdjustment(customerKey: "acme", amount: d("2.00"), reason: "inner", at: t("2026-04-01T00:00:00Z"))
                    throw Stop()
                }
            }
        }
        #expect(throws: Stop.self) {
            try store.transaction {
                _ = try store.addAdjustment(customerKey: "acme", amount: d("3.00"), reason: "outer", at: t("2026-04-01T00:00:00Z"))
                throw Stop()
            }
        }
        try store.beginWrite()
        _ = try store.addAdjustment(customerKey: "acme", amount: d("4.00"), reason: "spanning", at: t("2026-04-01T00:00:00Z"))
        store.rollbackWrite()
        #expect(try store.openAdjustments(customerKey: "acme", before: t("2026-05-01T00:00:00Z")).map(\.line.description) == ["kept"])
    }

    @Test(arguments: [false, true]) func thePaymentsCounterMovesOnlyForWhatPaymentAccessReads(inMemory: Bool) throws {
        let store: any Store = inMemory ? MemoryStore() : try temporaryStore()
        let apr1 = t("2026-04-01T00:00:00Z")
        _ = try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd)], at: apr1)
        let run = try store.startRun(asOf: apr1, dryRun: false, at: apr1)
        func payments() throws -> Int64 { try store.changeCounters()["payments"] ?? -1 }
        let start = try payments()
        let id = try store.insertInvoice(DraftInvoice(customerKey: "acme", currency: .usd, billDate: apr1, lines: []), runId: run, at: apr1)
        try store.updateTax(invoiceId: id, lines: [], note: nil, status: .taxed, at: apr1)
        try store.setInvoiceStatus(id, .issuing, at: apr1)
        try store.setInvoiceStatus(id, .issued, at: apr1)
        #expect(try payments() == start, "a bill run's statuses leave payment access alone")
        try store.recordPayment(invoiceId: id, status: .paymentFailed, payment: PaymentState(paymentFailedAt: apr1), at: apr1)
        #expect(try payments() == start + 1, "into payment_failed")
        try store.recordPayment(invoiceId: id, status: .paid, payment: PaymentState(paidAt: apr1, paymentFailedAt: apr1), at: apr1)
        #expect(try payments() == start + 2, "out of payment_failed")
        #expect(try store.blockingPaymentFacts().isEmpty)
    }

    @Test func anotherConnectionSeesTheSameDataAndItsCommitsMoveTheDataVersion() throws {
        let store = MemoryStore()
        let other = try store.openConnection()
        let version = try store.dataVersion()
        _ = try other.importCustomers([Customer(key: "acme", name: "Acme", currency: .usd)], at: t("2026-04-01T00:00:00Z"))
        #expect(try store.customer(key: "acme")?.name == "Acme")
        #expect(try store.dataVersion() != version)
        let own = try store.dataVersion()
        _ = try store.importCustomers([Customer(key: "globex", name: "Globex", currency: .usd)], at: t("2026-04-01T00:00:00Z"))
        #expect(try store.dataVersion() == own, "a connection's own commits leave its data version")
        #expect(store.path == ":memory:")
    }
}

/// The scenario: catalog, customers, subscriptions with a plan change and refusals, usage with a
/// late segment and the server's log, two bill runs' stages through the repositories (close, rate
/// with Billing's assembler, tax, issue, collect), credits, an adjustment, a void billed again.
/// Returns every read as text, random ids replaced by stable names.
enum MemoryStoreScenario {
    static let apr1 = t("2026-04-01T00:00:00Z")

    /// `countersByRow`: the change counters are read as values (they move once per row changed);
    /// otherwise as the names of those that moved.
    static func run(_ store: any Store, countersByRow: Bool = true) throws -> [String] {
        var log: [String] = []
        var aliases: [(String, String)] = []
        func alias(_ text: String) -> String {
            aliases.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
        func note(_ label: String, _ value: Any) { log.append(alias("\(label): \(value)")) }
        func attempt(_ label: String, _ body: () throws -> Any) {
            do { note(label, try body()) } catch let error as StoreInputError {
                note(label, "refused \(error.kind): \(error.message)")
            } catch let error as DatabaseError {
                note(label, "database error, constraint: \(error.isConstraintViolation)")
            } catch {
                note(label, "error \(type(of: error)): \(error)")
            }
        }
        func sorted<V>(_ dictionary: [String: V]) -> [(String, V)] { dictionary.sorted { $0.key < $1.key } }

        // Catalog
        let catalog = try CatalogReader.read(Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs/sample.json")))
        attempt("import catalog") { try store.importCatalog(catalog, at: apr1) }
        attempt("import catalog again") { try store.importCatalog(catalog, at: apr1) }
        var changed = catalog
        changed.plans[0].name += " (renamed)"
        attempt("import a changed plan") { try store.importCatalog(changed, at: apr1) }
        note("catalog", try store.catalog().plans.map { "\($0.key) v\($0.version) \($0.name)" })
        attempt("plan starter") { try store.plan(key: "starter", version: nil).version }
        attempt("plan starter v9") { try store.plan(key: "starter", version: 9) }
        attempt("plan nothing") { try store.plan(key: "nothing", version: nil) }

        // Customers
        let customers = [Customer(key: "acme", name: "Acme", currency: .usd, billingAddress: Customer.Address(country: "DE"), subjectKeys: ["acme", "acme-api"]),
                         Customer(key: "globex", name: "Globex", currency: .usd),
                         Customer(key: "initech", name: "Initech", currency: .eur)]
        attempt("import customers") { try store.importCustomers(customers, at: apr1) }
        attempt("a subject of another") { try store.importCustomers([Customer(key: "globex", name: "Globex", subjectKeys: ["acme-api"])], at: apr1) }
        attempt("update a name") { try store.importCustomers([Customer(key: "globex", name: "Globex Corp", currency: .usd)], at: apr1) }
        note("customers", try store.customers().map { "\($0.key) \($0.name) \($0.currency?.code ?? "-") \($0.subjectKeys)" })
        note("subjects", sorted(try store.subjectOwners()))

        // Subscriptions
        attempt("subscribe acme") { try store.createSubscription(customerKey: "acme", planKey: "starter", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_acme").id }
        attempt("subscribe globex") { try store.createSubscription(customerKey: "globex", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_globex").id }
        attempt("a second for acme") { try store.createSubscription(customerKey: "acme", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_x").id }
        attempt("a plan in euros for a dollar customer") { try store.createSubscription(customerKey: "initech", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_y").id }
        attempt("no such plan") { try store.createSubscription(customerKey: "initech", planKey: "nothing", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_z").id }
        attempt("no such customer") { try store.createSubscription(customerKey: "nobody", planKey: "pro", version: nil, anchor: nil, start: apr1, now: apr1, id: "sub_w").id }
        attempt("a currency change under subscriptions") { try store.importCustomers([Customer(key: "acme", name: "Acme", currency: .eur)], at: apr1) }

        // Usage: the ingest's segments, the server's log folded.
        let batch = try store.beginBatch(input: "events.jsonl", at: apr1)
        func piece(_ subscription: String, _ meter: String, _ window: String, count: Int64, sum: String, group: String = "") -> SegmentPiece {
            SegmentPiece(subscriptionId: subscription, meterSlug: meter, windowStart: t(window), groupKey: group, count: count, sum: sum,
                         min: "1", max: sum, latestTime: t(window) + 60, latestValue: "1.5")
        }
        attempt("written") {
            try store.writeSegments([piece("sub_acme", "api_requests", "2026-04-05T00:00:00Z", count: 7_000, sum: "7000"),
                                     piece("sub_globex", "tokens", "2026-04-06T00:00:00Z", count: 10, sum: "125000.5", group: "gpt")],
                                    batch: batch, into: .segments)
        }
        attempt("logged") {
            try store.writeSegments([piece("sub_globex", "tokens", "2026-04-06T00:00:00Z", count: 3, sum: "40.25", group: "gpt"),
                                     piece("sub_globex", "tokens", "2026-04-07T00:00:00Z", count: 1, sum: "2", group: "gpt")],
                                    batch: batch, into: .log)
        }
        attempt("a segment of no subscription") {
            try store.writeSegments([piece("sub_none", "tokens", "2026-04-06T00:00:00Z", count: 1, sum: "1")], batch: batch, into: .segments)
        }
        note("log rows", try store.usageLogRows())
        note("folded", try store.foldUsageLog(limit: 1))
        note("folded", try store.foldUsageLog())
        try store.finishBatch(batch, accepted: 7_014, duplicates: 2, rejected: 1, at: apr1)
        try store.quarantine(batch: batch, line: 9, reason: "no subject", raw: "{\"id\": 9}")
        try store.appendEventKeys([1, 2, 3, 4], day: 20_544, batch: batch)
        note("quarantined", try store.quarantinedEvents())
        note("key block", try store.lastEventKeyBlock())
        note("batches", try store.ingestBatches(after: 0))

        // An upgrade mid-period.
        attempt("upgrade acme") { try store.changeSubscription(id: "sub_acme", planKey: "pro", version: nil, timing: nil, now: t("2026-04-16T00:00:00Z")).start }
        for record in try store.subscriptions() where !["sub_acme", "sub_globex"].contains(record.id) {
            aliases.append((record.id, "successor-of-\(record.predecessorId ?? "?")"))
        }

        // The first bill run, as of May 1 01:00.
        try billRun(store, asOf: t("2026-05-01T01:00:00Z"), note: note, alias: alias)
        snapshot(store, countersByRow: countersByRow, note: note, alias: alias)

        // Issue and collect through Stripe's ids; a payment failure by webhook.
        for invoice in try store.invoiceTotals(status: .taxed) {
            try store.requestStripeCustomer(customerKey: invoice.id.contains("acme") ? "acme" : "globex", account: "acct_1", at: apr1)
            note("stripe customer", try store.stripeCustomer(customerKey: "acme", account: "acct_1") as Any)
            try store.startIssuing(invoiceId: invoice.id, account: "acct_1", at: t("2026-05-01T02:00:00Z"))
            try store.recordStripeInvoice(invoiceId: invoice.id, stripeId: "in_" + invoice.id, at: t("2026-05-01T02:00:00Z"))
            let lines = try store.lines(invoiceId: invoice.id)
            try store.recordStripeLines(lineIds: lines.map(\.id), key: "lines-\(invoice.id)")
            if let first = lines.first { try store.recordStripeItem(lineId: first.id, itemId: "ii_" + first.id) }
            try store.markIssued(invoiceId: invoice.id, number: "N-" + invoice.id, hostedInvoiceUrl: nil, invoicePdf: nil, stripeTotal: 100,
                                 at: t("2026-05-01T02:00:00Z"))
        }
        try store.recordStripeCustomer(customerKey: "acme", account: "acct_1", stripeId: "cus_acme", digest: "d1", at: apr1)
        attempt("one Stripe id for two customers") { try store.recordStripeCustomer(customerKey: "globex", account: "acct_1", stripeId: "cus_acme", digest: nil, at: apr1) }
        note("payment methods to check", try store.paymentMethodsToCheck(customerKey: "acme", account: "acct_1"))
        try store.recordPaymentMethodsChecked(customerKey: "acme", account: "acct_1", defaultPaymentMethod: "pm_1")
        note("customer of cus_acme", try store.customerKey(stripeCustomerId: "cus_acme") as Any)
        note("default payment method", try store.defaultPaymentMethod(customerKey: "acme", account: "acct_1") as Any)
        note("collectable", try store.collectableInvoices().map(\.id))
        let event = InboxEvent(id: "evt_1", type: "invoice.payment_failed", account: "acct_1", objectId: "in_inv_globex_20260501",
                               created: t("2026-05-02T00:00:00Z"), livemode: false, payload: "{}", receivedAt: t("2026-05-02T00:00:01Z"),
                               attempts: 5, outcome: "ignored")
        note("received", try store.receiveStripeEvent(event))
        note("received again", try store.receiveStripeEvent(event))
        note("waiting", try store.waitingStripeEvents())
        if let found = try store.invoice(stripeInvoiceId: "in_inv_globex_20260501") {
            try store.recordPayment(invoiceId: found.invoice.id, status: .paymentFailed,
                                    payment: PaymentState(stripeStatus: "open", amountDue: 9_900, attemptCount: 1, paymentFailedAt: t("2026-05-02T00:00:00Z")),
                                    failureReason: "authentication required", eventCreated: event.created, at: t("2026-05-02T00:00:02Z"))
        }
        try store.recordStripeEventAttempt(id: "evt_1", done: true, outcome: "applied", at: t("2026-05-02T00:00:03Z"))
        note("events", try store.stripeEvents())
        note("blocking", sorted(try store.blockingPaymentFacts()))
        note("by stripe id", try store.invoice(stripeInvoiceId: "in_inv_globex_20260501").map { "\($0.invoice) \(String(describing: $0.lastEventCreated))" } as Any)

        // Refusals in a billed period; a cancellation that takes effect; late usage.
        attempt("cancel globex in April") { try store.cancelSubscription(id: "sub_globex", timing: .at(t("2026-04-20T00:00:00Z")), now: t("2026-05-02T00:00:00Z")) }
        attempt("change acme in April") {
            try store.changeSubscription(id: "sub_acme", planKey: "starter", version: nil, timing: .at(t("2026-04-20T00:00:00Z")), now: t("2026-05-02T00:00:00Z")).id
        }
        attempt("cancel globex on May 11") { try store.cancelSubscription(id: "sub_globex", timing: .immediate, now: t("2026-05-11T00:00:00Z")) }
        attempt("reactivate globex") { try store.reactivateSubscription(id: "sub_globex", now: t("2026-05-12T00:00:00Z")) }
        attempt("no such subscription") { try store.cancelSubscription(id: "sub_none", timing: nil, now: t("2026-05-12T00:00:00Z")) }
        let late = try store.beginBatch(input: "late.jsonl", at: t("2026-05-03T00:00:00Z"))
        attempt("late written") {
            try store.writeSegments([piece("sub_acme", "api_requests", "2026-04-10T00:00:00Z", count: 500, sum: "500"),
                                     piece("sub_globex", "tokens", "2026-05-04T00:00:00Z", count: 2, sum: "3")],
                                    batch: late, into: .segments)
        }
        note("late windows", try store.lateWindows())

        // An adjustment, a void billed again, a transaction that throws.
        let adjustment = try store.addAdjustment(customerKey: "acme", amount: d("-5.00"), reason: "goodwill", at: t("2026-05-05T00:00:00Z"))
        aliases.append((adjustment, "adj_goodwill"))
        attempt("an adjustment for nobody") { try store.addAdjustment(customerKey: "nobody", amount: 1, reason: "x", at: apr1) }
        struct Stop: Error {}
        attempt("a transaction that throws") {
            try store.transaction {
                _ = try store.addAdjustment(customerKey: "acme", amount: d("100"), reason: "never", at: t("2026-05-05T00:00:00Z"))
                try store.voidInvoice("inv_acme_20260501", reason: "never", at: t("2026-05-05T00:00:00Z"))
                throw Stop()
            }
        }
        note("rolled back", try store.openAdjustments(customerKey: "acme", before: t("2026-06-01T00:00:00Z")).map(\.line.description))
        attempt("void what is not there") { try store.voidInvoice("inv_none", reason: "x", at: t("2026-05-06T00:00:00Z")) }
        attempt("void") { try store.voidInvoice("inv_acme_20260501", reason: "billed twice", at: t("2026-05-06T00:00:00Z")) }
        attempt("void again") { try store.voidInvoice("inv_acme_20260501", reason: "still", at: t("2026-05-07T00:00:00Z")) }
        note("open rebills", try store.openRebills(customerKey: "acme", before: t("2026-06-01T00:00:00Z")))
        note("billed charge", try store.billedCharge(ChargeKey(subscriptionId: "sub_acme", rateCardKey: "api_requests", periodStart: apr1)))

        // The second bill run, as of June 1 01:00: late usage, the credit, the adjustment, the rebill.
        try billRun(store, asOf: t("2026-06-01T01:00:00Z"), note: note, alias: alias)
        snapshot(store, countersByRow: countersByRow, note: note, alias: alias)

        // A failed invoice put back, the server's credentials, the reconciliation.
        if let id = try store.invoiceTotals(status: .taxed).first?.id {
            try store.setInvoiceStatus(id, .failed, failure: StoredInvoice.Failure(stage: "issue", message: "Stripe refused", stripeRequestId: "req_1"),
                                       at: t("2026-06-01T02:00:00Z"))
            note("failed", try store.invoice(id: id).map { "\($0.status) \(String(describing: $0.failure))" } as Any)
            note("resumed", try store.resumeFailed(invoiceId: id, at: t("2026-06-01T03:00:00Z")) as Any)
            note("resumed again", try store.resumeFailed(invoiceId: id, at: t("2026-06-01T03:00:00Z")) as Any)
        }
        attempt("failed without a stage") { try store.setInvoiceStatus("inv_acme_20260601", .failed, failure: nil, at: t("2026-06-01T03:00:00Z")) }
        try store.insertToken(id: "tok_1", name: "gateway", scope: .ingest, digest: "digest1", last4: "abcd", at: apr1)
        attempt("a token with the same digest") { try store.insertToken(id: "tok_2", name: "x", scope: .admin, digest: "digest1", last4: "abcd", at: apr1) }
        note("revoked", try store.revokeToken(id: "tok_1", at: t("2026-05-01T00:00:00Z")))
        note("revoked again", try store.revokeToken(id: "tok_1", at: t("2026-05-01T00:00:00Z")))
        try store.insertAPIKey(id: "key_1", customerKey: "acme", digest: "kd1", last4: "wxyz", at: apr1)
        attempt("a key for nobody") { try store.insertAPIKey(id: "key_2", customerKey: "nobody", digest: "kd2", last4: "wxyz", at: apr1) }
        attempt("customers again keep the key's subject") { try store.importCustomers([customers[0]], at: t("2026-05-01T00:00:00Z")) }
        note("subjects", sorted(try store.subjectOwners()))
        note("tokens", try store.tokens())
        note("keys", try store.apiKeys())
        note("revoke another's key", try store.revokeAPIKey(id: "key_1", customerKey: "globex", at: apr1))
        note("link key", try store.usageLinkKey(orStore: Array(repeating: 7, count: 32), at: apr1))
        note("link key kept", try store.usageLinkKey(orStore: Array(repeating: 9, count: 32), at: apr1))
        let reconciliation = try store.startReconciliation(runId: nil, from: t("2026-05-01T00:00:00Z"), to: t("2026-06-02T00:00:00Z"), account: "acct_1", at: apr1)
        try store.recordDifference(ReconciliationDifference(invoiceId: "inv_acme_20260601", stripeInvoiceId: nil, customerKey: "acme",
                                                            kind: .missingInStripe, local: "1 USD", stripe: nil, detail: "missing"),
                                   reconciliation: reconciliation)
        try store.finishReconciliation(reconciliation, compared: 3, at: t("2026-06-02T00:00:00Z"))
        note("reconciliation", try store.latestReconciliation(covering: t("2026-05-01T00:00:00Z"), t("2026-06-01T00:00:00Z")) as Any)
        note("differences", try store.differences(reconciliation: reconciliation))
        note("counters", counters(try store.changeCounters(), byRow: countersByRow))
        note("awaiting tax transaction", try store.invoicesAwaitingTaxTransaction().map(\.id))
        snapshot(store, countersByRow: countersByRow, note: note, alias: alias)
        return log
    }

    /// The stages close, rate and tax as `BillRun` runs them, through the repositories.
    static func billRun(_ store: any Store, asOf: Instant, note: (String, Any) -> Void, alias: (String) -> String) throws {
        let run = try store.startRun(asOf: asOf, dryRun: false, at: asOf)
        let horizon = asOf + -3_600
        try store.startStage(.close, run: run, at: asOf)
        var closed = 0
        try store.transaction {
            let lastClosed = try store.lastClosedBillDates()
            for record in try store.subscriptions() {
                for date in record.subscription.billDates(after: lastClosed[record.id], through: horizon)
                where try store.close(subscriptionId: record.id, customerKey: record.subscription.customerKey, billDate: date, run: run) {
                    closed += 1
                }
            }
        }
        try store.finishStage(.close, run: run, counts: [("closed", closed)], errors: [], at: asOf)
        note("pending", pending(try store.pendingBills(), alias: alias))
        try store.startStage(.rate, run: run, at: asOf)
        let assembler = InvoiceAssembler(catalog: try store.catalog(), usage: store)
        var late: [String: [(meterSlug: String, windowStart: Instant)]] = [:]
        for window in try store.lateWindows() { late[window.subscriptionId, default: []].append((window.meterSlug, window.windowStart)) }
        try store.transaction {
            for bill in try store.pendingBills() where bill.billDate <= horizon {
                let subscriptions = try store.subscriptions(customerKey: bill.customerKey, catalog: assembler.biller.catalog).map(\.subscription)
                var billed: [ChargeKey: Decimal] = [:]
                var latePeriods: [(String, Period)] = []
                for subscription in subscriptions {
                    for window in late[subscription.id] ?? [] {
                        for charge in assembler.biller.chargeKeys(subscription: subscription, meterSlug: window.meterSlug, windowStart: window.windowStart)
                        where charge.period.end < bill.billDate && billed[charge.key] == nil {
                            billed[charge.key] = try store.billedCharge(charge.key)
                            latePeriods.append((subscription.id, charge.period))
                        }
                    }
                }
                let credits = try store.openCredits(customerKey: bill.customerKey).filter { $0.credit.originBillDate < bill.billDate }
                let adjustments = try store.openAdjustments(customerKey: bill.customerKey, before: bill.billDate)
                let rebills = try store.openRebills(customerKey: bill.customerKey, before: bill.billDate)
                let draft = try assembler.draft(InvoiceRequest(
                    customerKey: bill.customerKey, currency: try store.customer(key: bill.customerKey)?.currency ?? .usd, billDate: bill.billDate,
                    subscriptions: subscriptions, billedCharges: billed, carriedCredits: credits.map(\.credit),
                    adjustments: rebills.map(\.line) + adjustments.map(\.line)))
                let invoiceId = draft.lines.isEmpty ? nil : try store.insertInvoice(draft, runId: run, at: asOf)
                try store.replaceCredits(customerKey: bill.customerKey, consumed: credits.map(\.id), billDate: bill.billDate,
                                         leftOver: draft.carriedCredits)
                if let invoiceId {
                    try store.attachAdjustments(adjustments.map(\.id), invoiceId: invoiceId)
                    try store.attachRebills(rebills.map(\.id), invoiceId: invoiceId)
                }
                for (subscriptionId, period) in latePeriods { try store.markLateBilled(subscriptionId: subscriptionId, period: period) }
                try store.markRated(bill, run: run, invoiceId: invoiceId)
            }
        }
        try store.finishStage(.rate, run: run, counts: [("rated", 0)], errors: [], at: asOf)
        // Tax: 19% on Acme's lines (in Germany), none on Globex's.
        try store.startStage(.tax, run: run, at: asOf)
        for total in try store.invoiceTotals(status: .rated) {
            guard let invoice = try store.invoice(id: total.id) else { continue }
            let rate: Decimal = invoice.customerKey == "acme" ? d("0.19") : 0
            let lines = invoice.lines.map { stored -> StoredLine in
                var line = stored
                line.line.taxAmount = (line.line.amount * rate).rounded(scale: 2)
                return line
            }
            try store.updateTax(invoiceId: invoice.id, lines: lines, note: rate == 0 ? "no tax" : nil,
                                applied: rate == 0 ? nil : AppliedTax(rate: rate, name: "VAT", country: "DE", state: nil), status: .taxed, at: asOf)
        }
        try store.finishStage(.tax, run: run, counts: [("taxed", 0)], errors: ["one error"], at: asOf)
        try store.finishRun(run, succeeded: true, at: asOf)
    }

    /// Pending bills with their subscriptions named by alias: a successor's id is random, and so
    /// is its place among the others.
    static func pending(_ bills: [PendingBill], alias: (String) -> String) -> [String] {
        bills.map { "\($0.customerKey) \($0.billDate) \($0.subscriptionIds.map(alias).sorted())" }
    }

    /// Every read the pipeline and the reports make of what was billed.
    static func counters(_ counters: [String: Int64], byRow: Bool) -> Any {
        byRow ? counters.sorted { $0.key < $1.key } as Any : counters.filter { $0.value > 0 }.keys.sorted() as Any
    }

    static func snapshot(_ store: any Store, countersByRow: Bool, note: (String, Any) -> Void, alias: (String) -> String) {
        func read(_ label: String, _ body: () throws -> Any) {
            do { note(label, try body()) } catch { note(label, "error \(error)") }
        }
        read("invoices") { try store.invoices() }
        read("invoices without lines") { try store.invoices(status: .taxed, withLines: false) }
        read("totals") { try store.invoiceTotals(status: .taxed) }
        read("invoices of May") { try store.invoices(billDateFrom: t("2026-05-01T00:00:00Z"), to: t("2026-06-01T00:00:00Z")) }
        read("line counts") { try store.lineCounts(billDateFrom: t("2026-04-01T00:00:00Z"), to: t("2026-07-01T00:00:00Z")).sorted { $0.key < $1.key } }
        read("pending") { pending(try store.pendingBills(), alias: alias) }
        read("credit balances") { try store.creditBalances().sorted { $0.key < $1.key } }
        read("open credits") { try store.openCredits(customerKey: "globex") }
        read("carried credits") { try store.carriedCredits(at: t("2026-07-01T00:00:00Z")) }
        read("late windows") { try store.lateWindows() }
        read("ledger") { try store.ledger() }
        read("closed") { try store.closedBillDates(subscriptionId: "sub_acme") }
        read("last closed") { try store.lastClosedBillDates().map { "\(alias($0.key)) \($0.value)" }.sorted() }
        read("subscriptions") {
            try store.subscriptions().map { record in
                let s = record.subscription
                return "\(s.id) \(s.customerKey) \(s.plan.key)@\(s.plan.version) \(s.anchor) \(s.start) \(String(describing: s.end)) \(s.origin) \(String(describing: record.predecessorId)) \(String(describing: record.successorId))"
            }
        }
        read("report invoices") {
            var rows: [ReportInvoice] = []
            try store.forEachReportInvoice(billDateFrom: t("2026-01-01T00:00:00Z"), to: t("2027-01-01T00:00:00Z")) { rows.append($0) }
            return rows
        }
        read("report lines") {
            var rows: [ReportLine] = []
            try store.forEachReportLine(billDateFrom: t("2026-01-01T00:00:00Z"), to: t("2027-01-01T00:00:00Z")) { rows.append($0) }
            return rows
        }
        read("feature meters") { try store.featureMeters().sorted { $0.key < $1.key } }
        let catalog = (try? store.catalog()) ?? Catalog()
        for meter in catalog.meters {
            for subscription in ["sub_acme", "sub_globex"] {
                let spring = Period(start: t("2026-04-01T00:00:00Z"), end: t("2026-06-01T00:00:00Z"))
                read("quantity \(meter.slug) \(subscription)") { try store.quantity(meter: meter, subscriptionId: subscription, period: spring) }
                for aggregation in Aggregation.allCases {
                    var measured = meter
                    measured.aggregation = aggregation
                    read("daily \(aggregation) \(meter.slug) \(subscription)") {
                        try store.daily(meter: measured, subscriptionId: subscription, period: Period(start: t("2026-04-04T00:00:00Z"), end: t("2026-04-11T00:00:00Z")))
                            .filter { $0.value != 0 }
                    }
                }
            }
        }
        read("counters") { counters(try store.changeCounters(), byRow: countersByRow) }
    }
}
