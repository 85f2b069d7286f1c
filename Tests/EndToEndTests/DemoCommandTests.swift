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
        // The live part: Stark (Starter, 50,000 requests a month, hard) over HTTP.
        #expect(demo.stdout.contains("live: `tollbooth serve` on http://127.0.0.1:"), "\(demo.stdout)")
        #expect(demo.stdout.contains("for stark"), "\(demo.stdout)")
        #expect(demo.stdout.contains("live: POST /v1/events: 49950 events accepted in 50 batches"), "\(demo.stdout)")
        // 49,950 + 50 = 50,000: the 51st check is refused.
        #expect(demo.stdout.contains("live: POST /v1/check with consume: 50 allowed, then 403 quota exhausted: 50,000 of 50,000 api_requests used; it resets at 2026-12-01T00:00:00Z"),
                "\(demo.stdout)")
        // The database stays behind for a closer look.
        let show = try cli.run("--db", database, "invoices", "show", "inv_abstergo_20261001", "--format", "json")
        let invoice = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(invoice["status"] as? String == "paid")
        #expect((invoice["stripeInvoiceId"] as? String)?.hasPrefix("in_") == true)
        let again = try cli.run("demo", "--db", database)
        #expect(again.status == 2, "\(again)")
    }
}
