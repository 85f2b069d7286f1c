import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// The issue and collect stages through the binary against `stripe-sim`: exactly one Stripe
/// customer, invoice and item per local one whatever kills the run, failures recorded and
/// re-run, and payment state pulled back. Amounts: see `IssueFixture`.
@Suite struct IssueCommandTests {
    @Test(arguments: Backend.allCases) func aRunIssuesEveryInvoiceOnceAndASecondRunChangesNothing(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        let first = try fixture.billRun()
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("issue: issued 4, not required 0, failed 0, skipped 0"), "\(first)")
        // Nobody has a payment method, so the first automatic attempt of each fails.
        #expect(first.stdout.contains("collect: paid 0, payment failed 4, uncollectible 0, void 0, awaiting payment 0"), "\(first)")
        // Per invoice: customer (the first of each customer's), invoice, add_lines, finalize; a
        // Customer just made has no saved card to look for, then or on its next invoice.
        #expect(try fixture.requests(method: "POST").count == 2 + 4 * 3)
        #expect(try fixture.requests(method: "GET").filter { ($0["path"] as? String)?.contains("payment_methods") == true }.isEmpty)
        try fixture.expectExactlyOnce()

        let invoice = try fixture.invoice("inv_acme_20260501")
        #expect(invoice["status"] as? String == "payment_failed")
        #expect((invoice["invoicePdf"] as? String)?.hasPrefix(fixture.simulator.baseURL) == true)
        let shown = try fixture.run("invoices", "show", "inv_acme_20260501")
        #expect(shown.stdout.contains("Number"), "\(shown)")
        #expect(shown.stdout.contains("Hosted page     \(invoice["hostedInvoiceUrl"] as? String ?? "?")"), "\(shown)")

        // The items a customer reads, and the tax Stripe was given.
        let stripeId = try #require(invoice["stripeInvoiceId"] as? String)
        let lines = try fixture.list("/v1/invoices/\(stripeId)/lines")
        let descriptions = Set(lines.compactMap { $0["description"] as? String })
        #expect(descriptions.contains("API requests: 5 x 0.002 (1 Apr - 30 Apr 2026)"), "\(descriptions)")
        let taxes = lines.flatMap { ($0["taxes"] as? [[String: Any]]) ?? [] }.compactMap { $0["amount"] as? Int }
        #expect(taxes == [210], "29.00 x 0.0725 = 2.1025 -> 210 cents; the 0.01 usage line has no tax: \(taxes)")

        let writes = try fixture.requests(method: "POST").count
        let second = try fixture.billRun()
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout.contains("issue: issued 0, not required 0, failed 0, skipped 0"), "\(second)")
        #expect(try fixture.requests(method: "POST").count == writes, "a second run writes nothing to Stripe")
        try fixture.expectExactlyOnce()
    }

    /// Killed right after Stripe answered each call of one invoice (before the answer was
    /// stored), the run is run again: one customer, invoice and item each, right totals. One
    /// line to an `add_lines` call, so an invoice of three lines makes three calls.
    @Test(arguments: Backend.allCases, ["issue.customer", "issue.invoice", "issue.lines.1", "issue.lines.2", "issue.lines.3", "issue.finalize"])
    func aRunKilledAtAnyStepAndRunAgainIssuesExactlyOnce(_ backend: Backend, failpoint: String) throws {
        let fixture = try IssueFixture(backend, settings: ["stripe": ["linesPerRequest": 1]])
        let killed = try fixture.billRun(environment: ["TOLLBOOTH_FAILPOINT": failpoint])
        #expect(killed.status == SIGKILL, "the run should die at \(failpoint): \(killed)")
        let again = try fixture.billRun()
        #expect(again.status == 0, "\(again)")
        try fixture.expectExactlyOnce()
        #expect(try fixture.invoices().allSatisfy { $0["status"] as? String == "payment_failed" })
    }

    /// Stripe did the work and the answer was lost: a 500 after the work, a connection dropped
    /// mid-answer. The client's retry under the same key gets the stored answer.
    @Test(arguments: Backend.allCases) func answersLostAfterTheWorkIsDoneMakeNothingTwice(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        try fixture.simulator.control("POST", "faults", ["kind": "500", "after": true, "method": "POST", "path": "/v1/invoices/", "count": 1])
        try fixture.simulator.control("POST", "faults", ["kind": "drop", "method": "POST", "path": "/v1/invoices", "count": 1])
        try fixture.simulator.control("POST", "faults", ["kind": "drop", "method": "POST", "path": "/v1/customers", "count": 1])
        let run = try fixture.billRun(environment: ["TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("issued 4"), "\(run)")
        try fixture.expectExactlyOnce()
        let replays = try fixture.requests(method: "POST").filter { $0["replayed"] as? Bool == true }
        #expect(replays.count == 3, "each lost answer is replayed once: \(replays.count)")
    }

    /// After Stripe forgot the idempotency keys (24 hours), a re-run finds the customer, the
    /// invoice and its items by metadata instead of creating them again.
    @Test(arguments: Backend.allCases, ["issue.customer", "issue.invoice", "issue.lines.2"])
    func aReRunAfterTheKeysExpiredAdoptsWhatStripeHolds(_ backend: Backend, failpoint: String) throws {
        let fixture = try IssueFixture(backend, settings: ["stripe": ["linesPerRequest": 1]])
        let killed = try fixture.billRun(environment: ["TOLLBOOTH_FAILPOINT": failpoint])
        #expect(killed.status == SIGKILL, "\(killed)")
        try fixture.simulator.control("POST", "clock", ["advance": 25 * 3600])
        let again = try fixture.billRun()
        #expect(again.status == 0, "\(again)")
        try fixture.expectExactlyOnce()
        #expect(try fixture.requests(method: "POST").allSatisfy { $0["replayed"] as? Bool != true }, "no key was still known")
    }

    @Test(arguments: Backend.allCases) func stormsOf429And500sAndSlowAnswersEndIssuedOnce(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        // At most three faults meet any one call, so each call's fourth send gets through.
        try fixture.simulator.control("POST", "faults", ["kind": "429", "method": "POST", "path": "/v1/customers", "count": 3])
        try fixture.simulator.control("POST", "faults", ["kind": "500", "method": "POST", "path": "/v1/invoices/", "count": 3])
        try fixture.simulator.control("POST", "faults", ["kind": "delay", "delay_ms": 1500, "method": "POST", "path": "/v1/customers", "count": 1])
        let run = try fixture.billRun(environment: ["TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 0, "\(run)")
        try fixture.expectExactlyOnce()
    }

    /// A fault that outlasts the client's retries fails that invoice with Stripe's error and
    /// request id; the others are issued; `rerun --failed` finishes it, still exactly once.
    @Test(arguments: Backend.allCases) func anInvoiceThatStillFailsAfterRetriesIsFailedAndReRun(_ backend: Backend) throws {
        // One invoice at a time, so the faults below all meet the first one.
        let fixture = try IssueFixture(backend, settings: ["stripe": ["concurrency": 1]])
        // The first invoice (acme, April) gets as far as its lines; that call answers 500 every time.
        try fixture.simulator.control("POST", "faults", ["kind": "500", "method": "POST", "path": "/v1/invoices/", "count": 4])
        let run = try fixture.billRun(environment: ["TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.contains("issue: issued 3, not required 0, failed 1, skipped 0"), "\(run)")
        #expect(run.stderr.contains("1 invoices failed"), "\(run)")

        let failed = try fixture.run("invoices", "list", "--status", "failed")
        #expect(failed.stdout.contains("inv_acme_20260401"), "\(failed)")
        #expect(failed.stdout.contains("issue: "), "the list shows the reason: \(failed)")
        let invoice = try fixture.invoice("inv_acme_20260401")
        let failure = try #require(invoice["failure"] as? [String: Any])
        #expect(failure["stage"] as? String == "issue")
        #expect((failure["stripeRequestId"] as? String)?.hasPrefix("req_") == true, "\(failure)")
        #expect((failure["message"] as? String)?.contains("500") == true, "\(failure)")

        let rerun = try fixture.run("rerun", "--failed")
        #expect(rerun.status == 0, "\(rerun)")
        #expect(rerun.stdout.contains("issue: issued 1, not required 0, failed 0, skipped 0"), "\(rerun)")
        try fixture.expectExactlyOnce()
        let none = try fixture.run("rerun", "--failed")
        #expect(none.stdout == "no failed invoices\n", "\(none)")
    }

    /// A restricted key without Invoices write: the first invoice fails naming the fix, the
    /// rest are not tried; with the permission granted, `rerun` and the next run issue them all.
    @Test(arguments: Backend.allCases) func aKeyWithoutAPermissionStopsTheStageAndSaysHowToFixIt(_ backend: Backend) throws {
        // One invoice at a time, so exactly one is in flight when the stage stops.
        let fixture = try IssueFixture(backend, settings: ["stripe": ["concurrency": 1]], connect: false)
        let restricted = "rk_test_issueNoInvoices0001"
        try fixture.simulator.register(key: restricted, permissions: eightPermissions.filter { $0 != "rak_invoice_write" })
        let run = try fixture.billRun(environment: ["TOLLBOOTH_STRIPE_KEY": restricted, "TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.contains("issue: issued 0, not required 0, failed 1, skipped 3; stopped:"), "\(run)")
        #expect(run.stdout.contains("Invoices: write"), "\(run)")
        #expect(!run.stdout.contains(restricted) && !run.stderr.contains(restricted), "the key never shows whole")
        #expect(try fixture.invoices().filter { $0["status"] as? String == "taxed" }.count == 3)

        let rerun = try fixture.cli.run(["rerun", "--failed"], environment: ["TOLLBOOTH_STRIPE_KEY": IssueFixture.key])
        #expect(rerun.status == 0, "\(rerun)")
        let next = try fixture.cli.run(["run", "--as-of", IssueFixture.asOf], environment: ["TOLLBOOTH_STRIPE_KEY": IssueFixture.key])
        #expect(next.stdout.contains("issue: issued 3"), "\(next)")
        try fixture.expectExactlyOnce()
    }

    /// Stripe's total differs from ours (an item deleted behind Tollbooth's back): the invoice
    /// fails and is never finalized.
    @Test(arguments: Backend.allCases) func aTotalThatDiffersFromStripesIsNeverFinalized(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend, settings: ["stripe": ["concurrency": 1]])
        let killed = try fixture.billRun(environment: ["TOLLBOOTH_FAILPOINT": "issue.lines.1"])
        #expect(killed.status == SIGKILL)
        let draft = try #require(try fixture.list("/v1/invoices").first)
        let stripeId = try #require(draft["id"] as? String)
        try fixture.simulator.control("POST", "invoices/\(stripeId)", ["total": 1])
        let run = try fixture.billRun()
        #expect(run.status == 1, "\(run)")
        let invoice = try fixture.invoice("inv_acme_20260401")
        let message = try #require((invoice["failure"] as? [String: Any])?["message"] as? String)
        #expect(message.contains("Stripe's total for \(stripeId) is 0.01 USD"), "\(message)")
        #expect(message.contains("Tollbooth's for inv_acme_20260401 is 31.10 USD"), "\(message)")
        #expect(try fixture.stripe("/v1/invoices/\(stripeId)")["status"] as? String == "draft", "never finalized")
    }

    /// Payment state comes back from Stripe: paid, a failed attempt with its count, marked
    /// uncollectible, voided; each with the time it happened.
    @Test(arguments: Backend.allCases) func collectPullsPaymentStateBack(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.billRun().status == 0)
        let ids = Dictionary(uniqueKeysWithValues: try fixture.invoices().map { ($0["id"] as? String ?? "", $0["stripeInvoiceId"] as? String ?? "") })
        try fixture.simulator.control("POST", "invoices/\(ids["inv_acme_20260401"]!)/pay")
        try fixture.simulator.control("POST", "invoices/\(ids["inv_acme_20260501"]!)/fail", ["decline_code": "insufficient_funds"])
        for (id, action) in [("inv_initech_20260401", "mark_uncollectible"), ("inv_initech_20260501", "void")] {
            var request = URLRequest(url: URL(string: fixture.simulator.baseURL + "/v1/invoices/\(ids[id]!)/\(action)")!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(IssueFixture.key)", forHTTPHeaderField: "Authorization")
            request.setValue("test-\(action)", forHTTPHeaderField: "Idempotency-Key")
            #expect(try SimulatorControl.send(request).1 == 200)
        }
        let collect = try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "collect")
        #expect(collect.stdout.contains("collect: paid 1, payment failed 1, uncollectible 1, void 1, awaiting payment 0"), "\(collect)")
        let statuses = Dictionary(uniqueKeysWithValues: try fixture.invoices().map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") })
        #expect(statuses == ["inv_acme_20260401": "paid", "inv_acme_20260501": "payment_failed",
                             "inv_initech_20260401": "uncollectible", "inv_initech_20260501": "void"])
        let failed = try fixture.run("invoices", "show", "inv_acme_20260501")
        #expect(failed.stdout.contains("2 payment attempts failed"), "the automatic attempt and the decline: \(failed)")
        let paid = try fixture.run("invoices", "show", "inv_acme_20260401")
        #expect(paid.stdout.contains("Paid at"), "\(paid)")
    }

    @Test(arguments: Backend.allCases) func aDryRunShowsWhatWouldBeIssuedAndCallsNothing(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "close").status == 0)
        #expect(try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "rate").status == 0)
        #expect(try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "tax").status == 0)
        let before = try fixture.requests().count
        let dry = try fixture.run("run", "--as-of", IssueFixture.asOf, "--dry-run")
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.contains("dry run: 4 invoices would be issued to Stripe account acct_"), "\(dry)")
        #expect(dry.stdout.contains("inv_acme_20260501: a Stripe invoice for a Stripe customer for acme (found or created), 2 lines in 1 add_lines call, total 31.11 USD, then finalize"), "\(dry)")
        #expect(try fixture.requests().count == before, "a dry run calls nothing")
        #expect(try fixture.invoices().allSatisfy { $0["status"] as? String == "taxed" })
    }

    /// Payment and portal links make the customer's Stripe Customer on first need; the bill run
    /// then issues to that same customer, never a second one.
    @Test(arguments: Backend.allCases) func paymentAndPortalLinksShareTheOneStripeCustomer(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        let link = try fixture.run("customers", "payment-link", "acme", "--success-url", "https://billing.example/saved")
        #expect(link.status == 0, "\(link)")
        #expect(link.stdout.hasPrefix(fixture.simulator.baseURL) && link.stdout.contains("cs_"), "\(link)")
        let portal = try fixture.run("customers", "portal-link", "acme")
        #expect(portal.status == 0 && portal.stdout.hasPrefix(fixture.simulator.baseURL), "\(portal)")
        let noPage = try fixture.run("customers", "payment-link", "acme")
        #expect(noPage.status == 2, "\(noPage)")
        #expect(noPage.stderr.contains("give --success-url"), "\(noPage)")
        #expect(try fixture.billRun().status == 0)
        try fixture.expectExactlyOnce()
        #expect(try fixture.requests(method: "POST", path: "/v1/customers").count == 2, "one creation per customer")
    }

    /// An invoice failed at tax (enforced tax, no rate for California) resumes from tax once
    /// the rate is added: taxed, then issued, exactly once.
    @Test(arguments: Backend.allCases) func anInvoiceFailedAtTaxIsReRunFromTax(_ backend: Backend) throws {
        let germanyOnly: [String: Any] = ["provider": "rates", "enforced": true, "rates": [["country": "DE", "rate": "0.19", "name": "VAT"]]]
        let fixture = try IssueFixture(backend, settings: ["tax": germanyOnly])
        let run = try fixture.billRun(environment: ["TOLLBOOTH_LOG_LEVEL": "critical"])
        #expect(run.status == 1, "\(run)")
        #expect(run.stdout.contains("tax: taxed 2 invoices, failed 2"), "\(run)")
        #expect(run.stdout.contains("issue: issued 2, not required 0, failed 0, skipped 0"), "\(run)")
        let failed = try fixture.invoice("inv_acme_20260401")
        #expect((failed["failure"] as? [String: Any])?["stage"] as? String == "tax")

        let settings: [String: Any] = [
            "stripe": ["apiBase": fixture.simulator.baseURL, "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000],
            "tax": ["provider": "rates", "enforced": true, "rates": [["country": "US", "state": "CA", "rate": "0.0725", "name": "CA sales tax"]]],
        ]
        try fixture.cli.write("tollbooth.json", String(decoding: try JSONSerialization.data(withJSONObject: settings), as: UTF8.self))
        let rerun = try fixture.run("rerun", "--failed")
        #expect(rerun.status == 0, "\(rerun)")
        #expect(rerun.stdout.contains("tax: taxed 2 invoices"), "\(rerun)")
        #expect(rerun.stdout.contains("issue: issued 2, not required 0, failed 0, skipped 0"), "\(rerun)")
        try fixture.expectExactlyOnce()
    }
}

/// Stripe's integer amounts in a zero-decimal currency are whole yen.
@Suite struct ZeroDecimalIssueTests {
    /// Umbrella on Starter JP: 3,000 JPY a month in advance, requests at 0.5 with a 1,000 minimum.
    /// April 1: fee 3,000. May 1: fee 3,000 + April's usage 0 + commitment 1,000 - 0 = 4,000.
    @Test(arguments: Backend.allCases) func aYenInvoiceReachesStripeInWholeYen(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.run("catalog", "import", EndToEndTests.fixture("catalogs/jpy.json")).status == 0)
        #expect(try fixture.run("subscriptions", "create", "--customer", "umbrella", "--plan", "starter_jp",
                                "--at", "2026-04-01T00:00:00Z").status == 0)
        let run = try fixture.billRun()
        #expect(run.status == 0, "\(run)")
        for (id, total) in [("inv_umbrella_20260401", 3_000), ("inv_umbrella_20260501", 4_000)] {
            let local = try fixture.invoice(id)
            #expect(local["total"] as? String == "\(total)")
            let stripeId = try #require(local["stripeInvoiceId"] as? String)
            let remote = try fixture.stripe("/v1/invoices/\(stripeId)")
            #expect(remote["currency"] as? String == "jpy")
            #expect(remote["total"] as? Int == total, "whole yen, not hundredths: \(remote["total"] ?? "")")
        }
        let items = try fixture.list("/v1/invoiceitems?invoice=\(try #require(try fixture.invoice("inv_umbrella_20260501")["stripeInvoiceId"] as? String))")
        #expect(items.compactMap { $0["amount"] as? Int }.sorted() == [0, 1_000, 3_000])
    }
}

/// A customer whose details change is updated in Stripe before its next invoice, once.
@Suite struct StripeCustomerSyncTests {
    @Test(arguments: Backend.allCases) func aChangedAddressAndExemptionReachTheStripeCustomerBeforeTheNextInvoice(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.billRun().status == 0)
        let customers = try String(contentsOfFile: EndToEndTests.fixture("customers.json"), encoding: .utf8)
            .replacingOccurrences(of: #""state": "CA", "postalCode": "94105""#, with: #""state": "NY", "postalCode": "10001""#)
        #expect(try fixture.run("customers", "import", try fixture.cli.write("customers.json", customers)).status == 0)
        let june = try fixture.run("run", "--as-of", "2026-06-01T02:00:00Z")
        #expect(june.status == 0, "\(june)")
        let acme = try #require(try fixture.list("/v1/customers").first { ($0["metadata"] as? [String: String])?["tollbooth_customer"] == "acme" })
        #expect((acme["address"] as? [String: Any])?["state"] as? String == "NY")
        let updates = try fixture.requests(method: "POST", path: "/v1/customers/")
        #expect(updates.count == 1, "acme updated once, initech not at all: \(updates.count)")
        #expect(try fixture.run("run", "--as-of", "2026-07-01T02:00:00Z").status == 0)
        #expect(try fixture.requests(method: "POST", path: "/v1/customers/").count == 1, "unchanged details are not sent again")
    }
}

/// `invoices void`: an issued, unpaid invoice voided in Stripe and locally, its lines billed again.
@Suite struct VoidCommandTests {
    /// Voided on May 10: acme's May invoice (fee 29.00 + April usage 0.01, tax 2.10) is billed
    /// again on June 1 beside June's fee 29.00 and May's usage 0.00:
    /// subtotal 29.00 + 0.00 + 29.00 + 0.01 = 58.01, tax 2.10 + 2.10 = 4.20, total 62.21.
    @Test(arguments: Backend.allCases) func aVoidedInvoiceIsVoidInStripeAndItsLinesAreBilledAgain(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.billRun().status == 0)
        let void = try fixture.run("invoices", "void", "inv_acme_20260501", "--reason", "billed to the wrong entity",
                                   "--at", "2026-05-10T00:00:00Z")
        #expect(void.status == 0, "\(void)")
        let voided = try fixture.invoice("inv_acme_20260501")
        #expect(voided["status"] as? String == "void")
        let stripeId = try #require(voided["stripeInvoiceId"] as? String)
        #expect(try fixture.stripe("/v1/invoices/\(stripeId)")["status"] as? String == "void")
        let shown = try fixture.run("invoices", "show", "inv_acme_20260501")
        #expect(shown.stdout.contains("Voided at       2026-05-10T00:00:00Z: billed to the wrong entity"), "\(shown)")

        let june = try fixture.run("run", "--as-of", "2026-06-01T02:00:00Z")
        #expect(june.status == 0, "\(june)")
        let invoice = try fixture.invoice("inv_acme_20260601")
        #expect(invoice["subtotal"] as? String == "58.01")
        #expect(invoice["tax"] as? String == "4.20")
        #expect(invoice["total"] as? String == "62.21")
        #expect((invoice["lines"] as? [[String: Any]])?.count == 4)

        let again = try fixture.run("invoices", "void", "inv_acme_20260501", "--reason", "twice")
        #expect(again.status == 2 && again.stderr == "error: invoice inv_acme_20260501 is already void\n", "\(again)")
        try fixture.simulator.control("POST", "invoices/\(try #require(try fixture.invoice("inv_acme_20260401")["stripeInvoiceId"] as? String))/pay")
        #expect(try fixture.run("run", "--as-of", "2026-06-01T02:00:00Z", "--stage", "collect").status == 0)
        let paid = try fixture.run("invoices", "void", "inv_acme_20260401", "--reason", "too late")
        #expect(paid.status == 2 && paid.stderr.contains("is paid: a paid invoice is refunded in Stripe, not voided"), "\(paid)")
    }
}
