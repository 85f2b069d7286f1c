import Foundation
import TestSupport
import Testing

/// A card saved through `customers payment-link` is what the next run charges, a card that needs
/// 3-D Secure is recorded as waiting for the customer, and Stripe's permission names reach the
/// operator as the row to fix. Through the binary, against `stripe-sim`; amounts: `IssueFixture`.
@Suite struct PaymentMethodCommandTests {
    /// The Checkout Session id in a payment link.
    func session(in link: String) throws -> String {
        let match = try #require(link.firstMatch(of: /cs_[A-Za-z0-9_]+/), "\(link)")
        return String(match.output)
    }

    /// `customers payment-link acme`, then the customer saves `card` in Checkout (without the
    /// webhook that would make it the default).
    func saveCard(_ card: String, fixture: IssueFixture) throws {
        let link = try fixture.run("customers", "payment-link", "acme", "--success-url", "https://billing.example/saved")
        #expect(link.status == 0, "\(link)")
        try fixture.simulator.control("POST", "checkout/sessions/\(try session(in: link.stdout))/complete", ["payment_method": card])
    }

    @Test(arguments: Backend.allCases) func aCardSavedInCheckoutIsMadeTheDefaultAndTheNextRunIsPaid(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        try saveCard("pm_card_visa", fixture: fixture)
        let run = try fixture.billRun()
        #expect(run.status == 0, "\(run)")
        // Acme's two invoices are charged to the saved card; Initech saved none.
        #expect(run.stdout.contains("collect: paid 2, payment failed 2, uncollectible 0, void 0, awaiting payment 0"), "\(run)")
        #expect(try fixture.invoice("inv_acme_20260401")["status"] as? String == "paid")
        #expect(try fixture.invoice("inv_acme_20260501")["status"] as? String == "paid")
        #expect(try fixture.invoice("inv_initech_20260401")["status"] as? String == "payment_failed")
        try fixture.expectExactlyOnce()

        let customer = try #require(try fixture.list("/v1/customers").first { ($0["metadata"] as? [String: String])?["tollbooth_customer"] == "acme" })
        let methodsPath = "/v1/customers/\(customer["id"] as? String ?? "")/payment_methods"
        // Looked for once: the second invoice knows the default and costs invoice, add_lines, finalize.
        #expect(try fixture.requests(method: "GET", path: methodsPath).count == 1)
        let card = try #require(try fixture.list(methodsPath).first?["id"] as? String)
        #expect((customer["invoice_settings"] as? [String: Any])?["default_payment_method"] as? String == card)
        // Made the default once, by the first of acme's invoices.
        let updates = try fixture.requests(method: "POST", path: "/v1/customers/").filter { ($0["status"] as? Int) == 200 }
        #expect(updates.count == 1, "\(updates)")
        #expect((updates.first?["idempotency_key"] as? String) == "tollbooth-default-payment-method-acme-\(card)")
    }

    /// Killed after Stripe made the card the default and before that was stored: the next run
    /// finds the default set, and the invoices are issued once and paid.
    @Test(arguments: Backend.allCases) func aRunKilledAfterTheDefaultWasSetFindsItSet(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        try saveCard("pm_card_visa", fixture: fixture)
        let killed = try fixture.billRun(environment: ["TOLLBOOTH_FAILPOINT": "issue.payment_method"])
        #expect(killed.status == SIGKILL, "\(killed)")
        let again = try fixture.billRun()
        #expect(again.status == 0, "\(again)")
        try fixture.expectExactlyOnce()
        #expect(try fixture.invoice("inv_acme_20260401")["status"] as? String == "paid")
        #expect(try fixture.invoice("inv_acme_20260501")["status"] as? String == "paid")
        // Acme's default was set once. (Initech's issuing runs beside acme's: killed half-way, it
        // may have left its customer's details to be brought up to date, a POST of its own.)
        let updates = try fixture.requests(method: "POST", path: "/v1/customers/").filter {
            ($0["status"] as? Int) == 200 && ($0["idempotency_key"] as? String)?.hasPrefix("tollbooth-default-payment-method-") == true
        }
        #expect(updates.count == 1, "the default was set once: \(updates)")
    }

    @Test(arguments: Backend.allCases) func aCardTheCardCheckDeclinesIsNeverSaved(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        let link = try fixture.run("customers", "payment-link", "acme", "--success-url", "https://billing.example/saved")
        let id = try session(in: link.stdout)
        #expect(throws: (any Error).self) {
            try fixture.simulator.control("POST", "checkout/sessions/\(id)/complete", ["payment_method": "pm_card_visa_chargeDeclinedInsufficientFunds"])
        }
        #expect(try fixture.stripe("/v1/checkout/sessions/\(id)")["status"] as? String == "open", "Checkout did not complete")
        #expect(try fixture.billRun().status == 0)
        #expect(try fixture.invoice("inv_acme_20260401")["status"] as? String == "payment_failed")
    }

    @Test(arguments: Backend.allCases) func aPaymentThatNeedsAuthenticationIsAFailureThatSaysSoAndLinksTheInvoice(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        try saveCard("pm_card_authenticationRequired", fixture: fixture)
        let run = try fixture.billRun()
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("collect: paid 0, payment failed 4"), "\(run)")

        let invoice = try fixture.invoice("inv_acme_20260401")
        #expect(invoice["status"] as? String == "payment_failed")
        let hosted = try #require(invoice["hostedInvoiceUrl"] as? String)
        let failure = try #require(invoice["failure"] as? [String: Any])
        #expect(failure["stage"] as? String == "collect")
        #expect(failure["message"] as? String == "authentication required: the customer confirms the payment (3-D Secure) at \(hosted)")
        // A plain decline (Initech has no card) has no reason Tollbooth can give.
        #expect(try fixture.invoice("inv_initech_20260401")["failure"] is NSNull)

        let list = try fixture.run("invoices", "list", "--status", "payment_failed")
        #expect(list.stdout.contains("collect: authentication required"), "\(list)")
        let shown = try fixture.run("invoices", "show", "inv_acme_20260401")
        #expect(shown.stdout.contains("collect: authentication required: the customer confirms the payment (3-D Secure) at \(hosted)"), "\(shown)")

        let out = fixture.cli.folder.appendingPathComponent("failures.csv")
        let report = try fixture.run("report", "reconciliation", "--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z",
                                     "--out", out.path, "--sheet", "Failures")
        #expect(report.status == 0, "\(report)")
        let rows = try String(contentsOf: out, encoding: .utf8).components(separatedBy: "\r\n")
        let acme = rows.filter { $0.hasPrefix("inv_acme_") }
        #expect(acme.count == 2, "\(rows)")
        #expect(acme.allSatisfy { $0.contains(",collect,authentication required: ") && $0.hasSuffix(",the customer confirms the payment on the hosted invoice page") },
                "\(acme)")
        #expect(!rows.contains { $0.hasPrefix("inv_initech_") }, "\(rows)")

        // Confirmed on the hosted page: the next collect finds it paid and the reason gone.
        try fixture.simulator.control("POST", "invoices/\(invoice["stripeInvoiceId"] as? String ?? "")/pay")
        let collect = try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "collect")
        #expect(collect.status == 0, "\(collect)")
        let paid = try fixture.invoice("inv_acme_20260401")
        #expect(paid["status"] as? String == "paid")
        #expect(paid["failure"] is NSNull)
    }

    /// Stripe's own names (`rak_invoices_write`, `rak_accounts_kyc_basic_read`) map to the row to fix.
    @Test(arguments: Backend.allCases) func stripesPermissionNamesNameTheRowToFix(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend, settings: ["stripe": ["concurrency": 1]], connect: false)
        let noInvoices = "rk_test_issueNoInvoicesPlural01"
        try fixture.simulator.register(key: noInvoices, permissions: eightPermissions.filter { $0 != "rak_invoice_write" })
        let run = try fixture.billRun(environment: ["TOLLBOOTH_STRIPE_KEY": noInvoices, "TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.contains("the restricted key lacks 'Invoices: write' (rak_invoices_write, permission 6 of 8); edit the restricted key in the Stripe Dashboard and give it 'Invoices: write'"), "\(run)")

        let noAccount = "rk_test_readinessNoAccount0001"
        try fixture.simulator.register(key: noAccount, permissions: eightPermissions.filter { $0 != "rak_account_read" })
        let ready = try fixture.cli.run(["stripe", "readiness"], environment: ["TOLLBOOTH_STRIPE_KEY": noAccount])
        #expect(ready.status == 1, "\(ready)")
        let row = try #require(lines(ready.stdout).first { $0.hasPrefix("Connect Accounts read") }, "\(ready)")
        #expect(row.contains("NO") && row.contains("give it 'Connect Accounts: read'"), "\(row)")
        #expect(!ready.stdout.contains("not one of the eight"), "\(ready)")
    }
}
