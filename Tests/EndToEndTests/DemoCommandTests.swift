import Foundation
import Testing

/// `tollbooth demo` as a new user runs it: a whole bill run against the Stripe simulator it starts.
@Suite struct DemoCommandTests {
    @Test func theDemoIssuesCollectsAndReRunsAgainstItsOwnSimulator() throws {
        let cli = try CLI()
        let database = cli.folder.appendingPathComponent("demo.db").path
        let demo = try cli.run("demo", "--db", database)
        #expect(demo.status == 0, "\(demo)")
        // 66 invoices: the first call adding an invoice's lines fails until the client gives up,
        // and that invoice is re-run; globex's card declines on both of its invoices.
        #expect(demo.stderr.contains("issue: issued 65, not required 0, failed 1, skipped 0"), "\(demo.stderr)")
        #expect(demo.stderr.contains("collect: paid 63, payment failed 2, uncollectible 0, void 0, awaiting payment 0"), "\(demo.stderr)")
        #expect(demo.stderr.contains("rerun inv_abstergo_20261001: issue: issued 1, not required 0, failed 0, skipped 0"), "\(demo.stderr)")
        #expect(demo.stdout.contains("Stripe (a simulator that stops with the demo): 64 paid, 2 payment failed, 0 not required (zero total), 0 failed."),
                "\(demo.stdout)")
        #expect(demo.stdout.contains("globex's card declined: inv_globex_20261001 is payment_failed"), "\(demo.stdout)")
        #expect(demo.stdout.contains("Database:   \(database)"), "\(demo.stdout)")
        // The live part, in live.db beside it: Acme subscribes to Starter (29.00 a month in
        // advance; 50,000 requests a month, hard, the first 10,000 free, then 0.002 each)
        // through the server and Checkout, and gets its key from the webhook.
        #expect(demo.stdout.contains("live: `tollbooth serve` on http://127.0.0.1:"), "\(demo.stdout)")
        #expect(demo.stdout.contains("POST /setup/stripe connected acct_1TbSimulator0000 (key sk_test_***0000)"), "\(demo.stdout)")
        #expect(!demo.stdout.contains("sk_test_tollboothDemo"), "no key in the demo's output")
        #expect(demo.stdout.contains("live: POST /v1/subscriptions for acme on Starter: pending_payment until Checkout; pm_card_visa saved in Checkout, checkout.session.completed reached the server"),
                "\(demo.stdout)")
        #expect(demo.stdout.contains("live: POST /v1/events: 49950 events accepted in 50 batches"), "\(demo.stdout)")
        // 49,950 + 50 = 50,000: the 51st check is refused.
        #expect(demo.stdout.contains("live: POST /v1/check with consume: 50 allowed, then 403 quota exhausted: 50,000 of 50,000 api_requests used"),
                "\(demo.stdout)")
        // The upgrade lifts it at once: Pro's quota is soft (10,000) and its usage period starts at the change.
        #expect(demo.stdout.contains("in service at once; the next check is 200 (Pro's usage period starts at the change: 1 of a soft 10000)"), "\(demo.stdout)")
        // The period-end run: 29.00 (Starter's first month, in advance) and 278.00 =
        // 80.00 (50,000 - 10,000 free = 40,000 x 0.002 on Starter) + 99.00 (Pro's fee for the rest
        // of the period: seconds after its start, 99.00 to the cent) + 99.00 (Pro's next month in
        // advance); no Starter credit, as the whole quota was used (max_consumption_based). Both paid.
        let billed = try #require(demo.stdout.split(separator: "\n").first { $0.hasPrefix("live: bill run as of") }.map(String.init))
        #expect(billed.contains(" 29.00 paid") && billed.contains(" 278.00 paid"), "\(billed)")
        #expect(demo.stdout.contains("live: Stripe's invoice.paid reached POST /v1/stripe/webhook for each paid invoice"), "\(demo.stdout)")
        // Globex's card declines: allowed through the grace (3 days), refused after it.
        #expect(demo.stdout.contains("live: globex's card declined: invoice.payment_failed reached the server, failure at "), "\(demo.stdout)")
        #expect(demo.stdout.contains("within the grace (3 days) the check is 200"), "\(demo.stdout)")
        #expect(demo.stdout.contains("): 403 payment overdue: invoice inv_globex_"), "\(demo.stdout)")
        // The database stays behind for a closer look.
        let show = try cli.run("--db", database, "invoices", "show", "inv_abstergo_20261001", "--format", "json")
        let invoice = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(invoice["status"] as? String == "paid")
        #expect((invoice["stripeInvoiceId"] as? String)?.hasPrefix("in_") == true)
        let again = try cli.run("demo", "--db", database)
        #expect(again.status == 2, "\(again)")
    }
}
