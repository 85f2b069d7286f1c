import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// The reconcile stage against `stripe-sim` with each kind of difference planted: every one is
/// found and recorded, and nothing local is corrected. Invoices and totals: see `IssueFixture`.
@Suite struct ReconcileCommandTests {
    /// The recorded differences as "kind invoice stripe-value", read from the database.
    func differences(_ fixture: IssueFixture) throws -> [String] {
        lines(try fixture.cli.query("""
            SELECT kind || ' ' || coalesce(invoice_id, '-') || ' ' || coalesce(stripe_value, '-') FROM reconciliation_differences
            WHERE reconciliation_id = (SELECT max(id) FROM reconciliations) ORDER BY id
            """))
    }

    func reconcile(_ fixture: IssueFixture) throws -> Outcome {
        try fixture.run("run", "--as-of", IssueFixture.asOf, "--stage", "reconcile")
    }

    @Test(arguments: Backend.allCases)
    func everyPlantedDifferenceIsFoundAndRecorded(_ backend: Backend) throws {
        let fixture = try IssueFixture(backend)
        #expect(try fixture.billRun().status == 0)
        let clean = try reconcile(fixture)
        #expect(clean.stdout.contains("reconcile: compared 4 invoices billed 2026-04-01T00:00:00Z to 2026-05-01T02:00:01Z: 0 differences\n"), "\(clean)")

        let ids = Dictionary(uniqueKeysWithValues: try fixture.invoices().map { ($0["id"] as? String ?? "", $0["stripeInvoiceId"] as? String ?? "") })
        let sim = fixture.simulator
        try sim.control("POST", "invoices/\(ids["inv_acme_20260401"]!)", ["total": 3_000])
        try sim.control("POST", "invoices/\(ids["inv_acme_20260501"]!)", ["status": "void"])
        try sim.control("POST", "invoices/\(ids["inv_initech_20260401"]!)", ["currency": "eur"])
        let line = try #require(try fixture.list("/v1/invoices/\(ids["inv_initech_20260501"]!)/lines").first?["id"] as? String)
        try sim.control("POST", "invoices/\(ids["inv_initech_20260501"]!)", ["delete_line": line, "starting_balance": -30])
        let acme = try #require(try fixture.invoice("inv_acme_20260401")["stripeInvoiceId"] as? String)
        let customer = try #require(try fixture.stripe("/v1/invoices/\(acme)")["customer"] as? String)
        try sim.control("POST", "invoices", ["customer": customer, "currency": "usd", "amount": 500,
                                             "metadata": ["tollbooth_invoice": "inv_ghost_20260401"]])

        let found = try reconcile(fixture)
        #expect(found.status == 0, "differences are recorded, not failures: \(found)")
        #expect(found.stdout.contains("5 differences (1 currency, 1 total, 1 item count, 1 status, 1 orphan); 1 balances Stripe carried"), "\(found)")
        let planted = try differences(fixture)
        #expect(planted == [
            "total inv_acme_20260401 30.00 USD",   // ours 31.10
            "currency inv_initech_20260401 EUR",
            "status inv_acme_20260501 void",       // ours payment_failed
            "item_count inv_initech_20260501 2",   // ours 3 lines
            "carried_balance inv_initech_20260501 -0.30 USD",
            "orphan - 5.00 USD",
        ], "\(planted)")
        // The workbook's Invoices sheet shows Stripe's total beside ours, and the difference.
        let csv = try fixture.run("report", "reconciliation", "--from", "2026-04-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z",
                                  "--out", fixture.cli.folder.appendingPathComponent("reconciliation.csv").path, "--sheet", "Invoices")
        #expect(csv.status == 0, "\(csv)")
        let rows = try String(contentsOf: fixture.cli.folder.appendingPathComponent("reconciliation.csv"), encoding: .utf8)
        let row = rows.components(separatedBy: "\r\n").first { $0.hasPrefix("inv_acme_20260401,") } ?? ""
        #expect(row.contains(",31.10,") && row.contains(",30.00,-1.10,"), "ours 31.10, Stripe's 30.00: \(row)")
        // Nothing local was corrected.
        #expect(try fixture.invoice("inv_acme_20260501")["status"] as? String == "payment_failed")
        #expect(try fixture.invoice("inv_acme_20260401")["total"] as? String == "31.10")

        // A local invoice whose Stripe invoice is gone; Stripe's real one is then a second invoice for it.
        try fixture.cli.query("UPDATE invoices SET stripe_invoice_id = 'in_gone000000' WHERE id = 'inv_acme_20260401'")
        #expect(try reconcile(fixture).stdout.contains("1 missing in stripe"))
        let recorded = try differences(fixture)
        #expect(recorded.contains("missing_in_stripe inv_acme_20260401 -"), "\(recorded)")
        #expect(recorded.contains("orphan inv_acme_20260401 30.00 USD"), "\(recorded)")
    }
}
