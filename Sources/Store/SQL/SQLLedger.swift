import Billing
import Foundation

extension SQLRepositories {
    // MARK: Runs and stages

    /// Records a new run. Called under the run lock, so a run still `running` in the ledger
    /// died without finishing (killed, or the machine stopped): it and its unfinished stage are
    /// marked `abandoned`, with the number of such runs returned through `abandoned`.
    public func startRun(asOf: Instant, dryRun: Bool, at now: Instant, abandoned: inout Int) throws -> Int64 {
        try connection.transaction {
            abandoned = try connection.run("UPDATE job_runs SET status = 'abandoned', finished_at = ? WHERE status = 'running'", [now.sql])
            try connection.run("UPDATE job_stages SET status = 'abandoned', finished_at = ? WHERE status = 'running'", [now.sql])
            return try connection.insertReturningId("INSERT INTO job_runs (as_of, started_at, status, dry_run) VALUES (?, ?, 'running', ?)",
                                                    [asOf.sql, now.sql, .integer(dryRun ? 1 : 0)])
        }
    }

    public func finishRun(_ id: Int64, succeeded: Bool, at now: Instant) throws {
        try connection.run("UPDATE job_runs SET status = ?, finished_at = ? WHERE id = ?",
                         [.text(succeeded ? "succeeded" : "failed"), now.sql, .integer(id)])
    }

    public func startStage(_ stage: Stage, run: Int64, at now: Instant) throws {
        try connection.run("INSERT INTO job_stages (run_id, stage, started_at, status) VALUES (?, ?, ?, 'running')",
                         [.integer(run), .text(stage.rawValue), now.sql])
    }

    /// Records a stage's end with its counts ("closed": 12, ...) and errors.
    public func finishStage(_ stage: Stage, run: Int64, counts: [(String, Int)], errors: [String], at now: Instant) throws {
        let json = "{" + counts.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        try connection.run("UPDATE job_stages SET finished_at = ?, status = ?, counts = ?, errors = ? WHERE run_id = ? AND stage = ?",
                         [now.sql, .text(errors.isEmpty ? "succeeded" : "failed"), .text(json), .text(errors.joined(separator: "\n")),
                          .integer(run), .text(stage.rawValue)])
    }

    /// The ledger: (run id, as-of, status, stage, counts, errors) for the last `limit` runs.
    public func ledger(limit: Int) throws -> [(run: Int64, asOf: Instant, status: String, stage: String, counts: String, errors: String)] {
        try connection.query("""
            SELECT r.id, r.as_of, r.status, s.stage, s.counts, s.errors FROM job_runs r JOIN job_stages s ON s.run_id = r.id
            WHERE r.id > (SELECT coalesce(max(id), 0) - ? FROM job_runs) ORDER BY r.id, s.started_at
            """, [.integer(Int64(limit))]).map {
            ($0.int(0) ?? 0, $0.instant(1) ?? Instant(seconds: 0), $0.string(2) ?? "", $0.string(3) ?? "", $0.string(4) ?? "", $0.string(5) ?? "")
        }
    }

    // MARK: Closes

    /// The bill dates of a subscription already closed.
    public func closedBillDates(subscriptionId: String) throws -> [Instant] {
        try connection.query("SELECT bill_date FROM period_closes WHERE subscription_id = ? ORDER BY bill_date",
                           [.text(subscriptionId)]).compactMap { $0.instant(0) }
    }

    /// The latest closed bill date of every subscription that has one.
    public func lastClosedBillDates() throws -> [String: Instant] {
        var result: [String: Instant] = [:]
        for row in try connection.query("SELECT subscription_id, max(bill_date) FROM period_closes GROUP BY subscription_id") {
            result[row.string(0) ?? ""] = row.instant(1)
        }
        return result
    }

    /// Closes (subscription, bill date); false when it was already closed.
    public func close(subscriptionId: String, customerKey: String, billDate: Instant, run: Int64) throws -> Bool {
        try connection.run("""
            INSERT INTO period_closes (subscription_id, bill_date, customer_key, run_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
                         [.text(subscriptionId), billDate.sql, .text(customerKey), .integer(run)]) == 1
    }

    /// Closes many (subscription, bill date), many to a statement; returns how many were not
    /// closed already.
    public func close(_ closes: [(subscriptionId: String, customerKey: String, billDate: Instant)], run: Int64) throws -> Int {
        var closed = 0
        for start in stride(from: 0, to: closes.count, by: Self.rowsPerInsert) {
            let chunk = closes[start..<min(closes.count, start + Self.rowsPerInsert)]
            closed += try connection.run("""
                INSERT INTO period_closes (subscription_id, bill_date, customer_key, run_id)
                VALUES \(Array(repeating: "(?, ?, ?, ?)", count: chunk.count).joined(separator: ", "))
                ON CONFLICT DO NOTHING
                """, Array(chunk.map { [.text($0.subscriptionId), $0.billDate.sql, .text($0.customerKey), .integer(run)] }.joined()))
        }
        return closed
    }

    /// Closed bill dates whose invoice is not yet made, oldest first.
    public func pendingBills() throws -> [PendingBill] {
        PendingBill.grouped(try connection.query("""
            SELECT customer_key, bill_date, subscription_id FROM period_closes WHERE rated_run_id IS NULL
            ORDER BY bill_date, customer_key, subscription_id
            """))
    }

    public func pendingBills(customerKeys: [String]) throws -> [PendingBill] {
        var rows: [Row] = []
        try forEachRow(keys: customerKeys, { """
            SELECT customer_key, bill_date, subscription_id FROM period_closes WHERE rated_run_id IS NULL AND customer_key IN \($0)
            """ }) { rows.append($0) }
        // Each chunk's rows in the order of the whole.
        rows.sort { a, b in
            let (dateA, dateB) = (a.int(1) ?? 0, b.int(1) ?? 0)
            if dateA != dateB { return dateA < dateB }
            let (customerA, customerB) = (a.string(0) ?? "", b.string(0) ?? "")
            if customerA != customerB { return customerA.utf8.lexicographicallyPrecedes(customerB.utf8) }
            return (a.string(2) ?? "").utf8.lexicographicallyPrecedes((b.string(2) ?? "").utf8)
        }
        return PendingBill.grouped(rows)
    }

    public func markRated(_ bill: PendingBill, run: Int64, invoiceId: String?) throws {
        try markRated([(bill, invoiceId)], run: run)
    }

    /// Marks bills rated, each with its invoice (nil: nothing to bill), many to a statement.
    public func markRated(_ bills: [(bill: PendingBill, invoiceId: String?)], run: Int64) throws {
        for start in stride(from: 0, to: bills.count, by: Self.rowsPerInsert) {
            let chunk = bills[start..<min(bills.count, start + Self.rowsPerInsert)]
            var values: [SQLValue] = [.integer(run)]
            for (bill, invoiceId) in chunk { values += [.text(bill.customerKey), bill.billDate.sql, SQLValue(invoiceId)] }
            try connection.run("""
                UPDATE period_closes SET rated_run_id = ?1, invoice_id = rated.column3
                FROM (VALUES \(Array(repeating: "(?, ?, ?)", count: chunk.count).joined(separator: ", "))) AS rated
                WHERE period_closes.customer_key = rated.column1 AND period_closes.bill_date = rated.column2
                  AND period_closes.rated_run_id IS NULL
                """, values)
        }
    }

    // MARK: Carried credits

    /// Credits not yet taken by an invoice, with their row ids.
    public func openCredits(customerKey: String) throws -> [(id: Int64, credit: CarriedCredit)] {
        try connection.query("""
            SELECT id, origin_bill_date, kind, subscription_id, rate_card_key, feature_key, description, period_start, period_end,
                   amount, tax_behavior, tax_code, detail
            FROM carried_credits WHERE customer_key = ? AND consumed_bill_date IS NULL ORDER BY id
            """, [.text(customerKey)]).map { row in
            let line = InvoiceLine(kind: LineKind(rawValue: row.string(2) ?? "") ?? .prorationCredit, subscriptionId: row.string(3),
                                   rateCardKey: row.string(4), featureKey: row.string(5), description: row.string(6) ?? "",
                                   period: Period(start: row.instant(7) ?? Instant(seconds: 0), end: row.instant(8) ?? Instant(seconds: 0)),
                                   amount: row.decimal(9) ?? 0, taxBehavior: TaxBehavior(rawValue: row.string(10) ?? "") ?? .exclusive,
                                   taxCode: row.string(11), detail: row.string(12) ?? "")
            return (row.int(0) ?? 0, CarriedCredit(line: line, originBillDate: row.instant(1) ?? Instant(seconds: 0)))
        }
    }

    /// Marks credits as taken by the invoice of `billDate` and stores what is left over.
    public func replaceCredits(customerKey: String, consumed: [Int64], billDate: Instant, leftOver: [CarriedCredit]) throws {
        for id in consumed {
            try connection.run("UPDATE carried_credits SET consumed_bill_date = ? WHERE id = ?", [billDate.sql, .integer(id)])
        }
        for credit in leftOver {
            let line = credit.line
            try connection.run("""
                INSERT INTO carried_credits (customer_key, origin_bill_date, created_bill_date, kind, subscription_id, rate_card_key,
                    feature_key, description, period_start, period_end, amount, tax_behavior, tax_code, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(customerKey), credit.originBillDate.sql, billDate.sql, .text(line.kind.rawValue), SQLValue(line.subscriptionId),
                      SQLValue(line.rateCardKey), SQLValue(line.featureKey), .text(line.description), line.period.start.sql,
                      line.period.end.sql, SQLValue(line.amount), .text(line.taxBehavior.rawValue), SQLValue(line.taxCode), .text(line.detail)])
        }
    }

    /// Every customer's credit balance: the sum of credits not yet taken (negative).
    public func creditBalances() throws -> [String: Decimal] {
        var result: [String: Decimal] = [:]
        for row in try connection.query("SELECT customer_key, amount FROM carried_credits WHERE consumed_bill_date IS NULL") {
            result[row.string(0) ?? "", default: 0] += row.decimal(1) ?? 0
        }
        return result
    }

    // MARK: Adjustments

    public func addAdjustment(customerKey: String, amount: Decimal, reason: String, at now: Instant) throws -> String {
        guard try customer(key: customerKey) != nil else { throw StoreInputError("no customer \(customerKey)") }
        let id = Identifier.make("adj")
        try connection.run("INSERT INTO adjustments (id, customer_key, amount, reason, created_at) VALUES (?, ?, ?, ?, ?)",
                         [.text(id), .text(customerKey), SQLValue(amount), .text(reason), now.sql])
        return id
    }

    /// Adjustments not yet on an invoice, as `adjustment` lines.
    public func openAdjustments(customerKey: String, before billDate: Instant) throws -> [(id: String, line: InvoiceLine)] {
        try connection.query("SELECT id, amount, reason, created_at FROM adjustments WHERE customer_key = ? AND invoice_id IS NULL AND created_at <= ? ORDER BY created_at, id",
                           [.text(customerKey), billDate.sql]).map { row in
            let at = row.instant(3) ?? billDate
            return (row.string(0) ?? "", InvoiceLine(kind: .adjustment, subscriptionId: nil, rateCardKey: nil,
                                                     description: row.string(2) ?? "Adjustment", period: Period(start: at, end: at),
                                                     amount: row.decimal(1) ?? 0))
        }
    }

    public func attachAdjustments(_ ids: [String], invoiceId: String) throws {
        for id in ids { try connection.run("UPDATE adjustments SET invoice_id = ? WHERE id = ?", [.text(invoiceId), .text(id)]) }
    }
}

extension PendingBill {
    /// Rows of (customer, bill date, subscription), in order, as bills: a customer's closes of
    /// one bill date together.
    static func grouped(_ rows: [Row]) -> [PendingBill] {
        var bills: [PendingBill] = []
        for row in rows {
            let customer = row.string(0) ?? "", date = row.instant(1) ?? Instant(seconds: 0), id = row.string(2) ?? ""
            if let last = bills.last, last.customerKey == customer, last.billDate == date {
                bills[bills.count - 1].subscriptionIds.append(id)
            } else {
                bills.append(PendingBill(customerKey: customer, billDate: date, subscriptionIds: [id]))
            }
        }
        return bills
    }
}
