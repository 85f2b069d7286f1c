import Foundation
import Testing
import TestSupport

@Suite struct InvoiceCommandTests {
    @Test(arguments: Backend.allCases) func anEmptyDatabaseListsAHeaderOnly(_ backend: Backend) throws {
        let cli = try CLI(backend)
        #expect(try cli.run("catalog", "import", fixture("catalogs/sample.json")).status == 0)
        let table = try cli.run("invoices", "list")
        #expect(table.status == 0, "\(table)")
        #expect(table.stdout == "ID  CUSTOMER  BILL DATE  STATUS  CURRENCY  SUBTOTAL  TAX  TOTAL\n")

        let csv = try cli.run("invoices", "list", "--format", "csv")
        #expect(csv.stdout == "id,customerKey,currency,billDate,periodStart,periodEnd,status,subtotal,tax,total,stripeInvoiceId,number,hostedInvoiceUrl,failureStage,failureMessage\r\n")

        let json = try cli.run("invoices", "list", "--format", "json", "--status", "paid")
        #expect(json.stdout == "[]\n")
    }

    @Test(arguments: Backend.allCases) func anUnknownStatusOrInvoiceIsBadInput(_ backend: Backend) throws {
        let cli = try CLI(backend)
        #expect(try cli.run("catalog", "import", fixture("catalogs/sample.json")).status == 0)
        let status = try cli.run("invoices", "list", "--status", "settled")
        #expect(status.status == 2)
        #expect(lines(status.stderr).count == 1)
        #expect(status.stderr.contains("not an invoice status: settled (one of draft, rated, taxed, issuing, issued, paid, payment_failed, uncollectible, void, not_required, failed)"))

        let show = try cli.run("invoices", "show", "inv_nobody_20260101")
        #expect(show.status == 2)
        #expect(show.stderr == "error: no invoice inv_nobody_20260101: `tollbooth invoices list` shows the ids\n")
    }
}

@Suite struct AdjustmentCommandTests {
    @Test(arguments: Backend.allCases) func addPrintsTheId(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let charge = try cli.run("adjustments", "add", "--customer", "acme", "--amount", "12.50", "--reason", "Onboarding call")
        #expect(charge.status == 0, "\(charge)")
        #expect(charge.stdout.wholeMatch(of: /adj_[0-9a-f]{16}\n/) != nil)
        let credit = try cli.run("adjustments", "add", "--customer", "umbrella", "--amount", "-500", "--reason", "Goodwill credit")
        #expect(credit.status == 0, "\(credit)")
    }

    @Test(arguments: Backend.allCases) func anAmountFinerThanTheCurrencyIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let usd = try cli.run("adjustments", "add", "--customer", "acme", "--amount", "1.005", "--reason", "x")
        #expect(usd.status == 2)
        #expect(usd.stderr == "error: --amount 1.005 has more decimals than USD allows (2 decimals)\n")
        let jpy = try cli.run("adjustments", "add", "--customer", "umbrella", "--amount", "500.5", "--reason", "x")
        #expect(jpy.status == 2)
        #expect(jpy.stderr == "error: --amount 500.5 has more decimals than JPY allows (0 decimals)\n")
    }

    @Test(arguments: Backend.allCases) func badAmountsAndUnknownCustomersAreUsageErrors(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let text = try cli.run("adjustments", "add", "--customer", "acme", "--amount", "1e3", "--reason", "x")
        #expect(text.status == 2)
        #expect(text.stderr == "error: --amount must be a decimal number such as 12.50 or -5, not 1e3\n")
        let unknown = try cli.run("adjustments", "add", "--customer", "nobody", "--amount", "5", "--reason", "x")
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "error: no customer nobody: import it with `tollbooth customers import`\n")
    }
}

@Suite struct GlobalOptionTests {
    @Test(arguments: Backend.allCases) func aBadAtIsOneLineAndExitTwo(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let outcome = try cli.run("subscriptions", "list", "--at", "yesterday")
        #expect(outcome.status == 2)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == "error: The value 'yesterday' is invalid for '--at <time>': not an RFC 3339 time: yesterday (write it like 2026-01-31T00:00:00Z)\n")
    }

    @Test(arguments: Backend.allCases) func optionsMayComeBeforeTheCommand(_ backend: Backend) throws {
        let cli = try CLI(backend)
        switch backend {
        case .sqlite:
            let other = cli.folder.appendingPathComponent("other.db").path
            let outcome = try cli.run("--db", other, "catalog", "import", fixture("catalogs/jpy.json"))
            #expect(outcome.status == 0, "\(outcome)")
            #expect(FileManager.default.fileExists(atPath: other))
            #expect(!FileManager.default.fileExists(atPath: cli.database))
        case .postgres:
            // --db names another database: the catalog goes there; $TOLLBOOTH_DB's is not even migrated.
            let server = try PostgresServer.shared()
            let other = try server.makeDatabase()
            let outcome = try cli.run("--db", other, "catalog", "import", fixture("catalogs/jpy.json"))
            #expect(outcome.status == 0, "\(outcome)")
            #expect(try server.query("SELECT count(*) FROM plans", url: other) != "0")
            #expect(try cli.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0")
        }
    }

    @Test(arguments: Backend.allCases) func helpWorksEverywhere(_ backend: Backend) throws {
        let cli = try CLI(backend)
        for command in [[], ["catalog"], ["catalog", "import"], ["subscriptions", "change"], ["invoices", "show"], ["adjustments", "add"]] {
            let outcome = try cli.run(command + ["--help"])
            #expect(outcome.status == 0, "\(command): \(outcome)")
            #expect(outcome.stdout.contains("USAGE: tollbooth"), "\(command)")
        }
    }

    @Test(arguments: Backend.allCases) func anUnknownCommandIsAUsageError(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let outcome = try cli.run("bill")
        #expect(outcome.status == 2)
        #expect(lines(outcome.stderr).count == 1)
    }

    @Test(arguments: Backend.allCases) func aMissingExplicitSettingsFileIsAnError(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let outcome = try cli.run("catalog", "list", "--config", "missing.json")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: settings: settings file missing.json does not exist: create it or leave out --config\n")
    }

    @Test(arguments: Backend.allCases) func theDefaultSettingsFileIsReadWhenPresent(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.write("tollbooth.json", #"{"maxPaymentOverdueDays": "three"}"#)
        let outcome = try cli.run("catalog", "list")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: settings: ./tollbooth.json: maxPaymentOverdueDays must be a whole number of at least 0, not \"three\"\n")
    }

    @Test(arguments: Backend.allCases) func theOldStripeRateKeysAreRefusedNamingTheirReplacements(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.write("tollbooth.json", #"{"environment": "production", "stripe": {"writesPerSecond": 80, "readsPerSecond": 80}}"#)
        let outcome = try cli.run("catalog", "list")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: settings: ./tollbooth.json: stripe.writesPerSecond is no longer read: Stripe limits an account's requests in all and per endpoint, not reads and writes apart; set stripe.requestsPerSecond (default 90 here) and stripe.endpointRequestsPerSecond (default 22) instead\n")
    }

    @Test(arguments: Backend.allCases) func aSecretInTheSettingsFileIsRefusedWithoutEchoingIt(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let file = try cli.write("settings.json", #"{"stripe": {"apiKey": "sk_test_abc123secret"}}"#)
        let outcome = try cli.run("catalog", "list", "--config", file)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("stripe.apiKey holds a Stripe secret key"))
        #expect(outcome.stderr.contains("$TOLLBOOTH_STRIPE_KEY"))
        #expect(!outcome.stderr.contains("sk_test_abc123secret"))
        #expect(!outcome.stdout.contains("sk_test_abc123secret"))
    }
}

/// A failed JPY invoice with a quote in its failure, written straight into the database (with the
/// sqlite3 tool, or psql), to pin the output formats down exactly.
@Suite struct StoredInvoiceOutputTests {
    func seeded(_ backend: Backend) throws -> CLI {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let sql = """
            INSERT INTO invoices (id, customer_key, bill_date, currency, status, subtotal, tax, total, period_start, period_end,
                                  failure_stage, failure_message, created_at, updated_at)
            VALUES ('inv_umbrella_20260201', 'umbrella', 1769904000, 'JPY', 'failed', '3500', '350', '3850', 1767225600, 1769904000,
                    'issue', 'Stripe said "no", twice', 0, 0);
            INSERT INTO invoice_lines (id, invoice_id, position, kind, description, period_start, period_end, quantity, amount,
                                       tax_behavior, tax_amount)
            VALUES ('inv_umbrella_20260201_1', 'inv_umbrella_20260201', 0, 'usage', 'API requests', 1767225600, 1769904000,
                    '2500', '500', 'exclusive', '50'),
                   ('inv_umbrella_20260201_2', 'inv_umbrella_20260201', 1, 'fee', 'Base fee', 1769904000, 1772323200,
                    NULL, '3000', 'exclusive', '300');
            """
        switch backend {
        case .sqlite:
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [cli.database, sql]
            try process.spawn()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0)
        case .postgres:
            try cli.query(sql)
        }
        return cli
    }

    @Test(arguments: Backend.allCases) func showAsTableAndJSON(_ backend: Backend) throws {
        let cli = try seeded(backend)
        let table = try cli.run("invoices", "show", "inv_umbrella_20260201")
        #expect(table.status == 0, "\(table)")
        #expect(table.stdout == """
            Invoice    inv_umbrella_20260201
            Customer   umbrella
            Status     failed
            Bill date  2026-02-01T00:00:00Z
            Period     2026-01-01T00:00:00Z to 2026-02-01T00:00:00Z
            Failed at  issue: Stripe said "no", twice

            KIND   DESCRIPTION   PERIOD START          PERIOD END            QUANTITY  AMOUNT  TAX
            usage  API requests  2026-01-01T00:00:00Z  2026-02-01T00:00:00Z      2500     500   50
            fee    Base fee      2026-02-01T00:00:00Z  2026-03-01T00:00:00Z              3000  300

                       JPY
            Subtotal  3500
            Tax        350
            Total     3850

            """)

        let json = try cli.run("invoices", "show", "inv_umbrella_20260201", "--format", "json")
        let invoice = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(invoice["total"] as? String == "3850")
        #expect(invoice["status"] as? String == "failed")
        #expect((invoice["failure"] as? [String: Any])?["stage"] as? String == "issue")
        #expect((invoice["failure"] as? [String: Any])?["stripeRequestId"] is NSNull)
        let lines = try #require(invoice["lines"] as? [[String: Any]])
        #expect(lines.map { $0["amount"] as? String } == ["500", "3000"])
        #expect(lines.map { $0["taxAmount"] as? String } == ["50", "300"])
        #expect(lines[0]["quantity"] as? String == "2500")
        #expect(lines[1]["quantity"] is NSNull)
    }

    @Test(arguments: Backend.allCases) func listAsCSVQuotesPerRFC4180(_ backend: Backend) throws {
        let cli = try seeded(backend)
        let csv = try cli.run("invoices", "list", "--format", "csv", "--status", "failed")
        #expect(csv.status == 0, "\(csv)")
        #expect(csv.stdout == "id,customerKey,currency,billDate,periodStart,periodEnd,status,subtotal,tax,total,stripeInvoiceId,number,hostedInvoiceUrl,failureStage,failureMessage\r\n"
                + "inv_umbrella_20260201,umbrella,JPY,2026-02-01T00:00:00Z,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z,failed,3500,350,3850,,,,issue,\"Stripe said \"\"no\"\", twice\"\r\n")
        let none = try cli.run("invoices", "list", "--status", "paid")
        #expect(none.stdout == "ID  CUSTOMER  BILL DATE  STATUS  CURRENCY  SUBTOTAL  TAX  TOTAL\n")
        let table = try cli.run("invoices", "list")
        #expect(lines(table.stdout) == [
            "ID                     CUSTOMER  BILL DATE             STATUS  CURRENCY  SUBTOTAL  TAX  TOTAL  REASON",
            "inv_umbrella_20260201  umbrella  2026-02-01T00:00:00Z  failed  JPY           3500  350   3850  issue: Stripe said \"no\", twice",
        ])
    }
}
