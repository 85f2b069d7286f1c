import Foundation
import Testing
import TestSupport

/// `tax.provider: stripe`: tax from Stripe Tax Calculations on the simulator's rate table
/// (California 7.25%), written onto the lines, and a Tax Transaction per issued invoice.
@Suite struct StripeTaxCommandTests {
    func fixture(_ backend: Backend, enforced: Bool) throws -> IssueFixture {
        let fixture = try IssueFixture(backend, settings: ["tax": ["provider": "stripe", "enforced": enforced]])
        try fixture.simulator.control("POST", "tax_rates", ["rates": [
            ["country": "US", "state": "CA", "percentage": "7.25", "display_name": "Sales tax", "tax_type": "sales_tax"]]])
        return fixture
    }

    /// The same cents as the local rate table: acme 29.00 x 0.0725 = 2.1025 -> 2.10 a month,
    /// initech exempt (customer_exempt) 0.00.
    @Test(arguments: Backend.allCases)
    func stripeTaxGivesTheLinesTaxAndEachIssuedInvoiceATransaction(_ backend: Backend) throws {
        let fixture = try fixture(backend, enforced: true)
        let run = try fixture.billRun()
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("issue: issued 4, not required 0, failed 0, skipped 0; 4 tax transactions recorded"), "\(run)")
        try fixture.expectExactlyOnce()
        #expect(try fixture.invoice("inv_acme_20260401")["tax"] as? String == "2.10")
        #expect(try fixture.invoice("inv_initech_20260401")["tax"] as? String == "0.00")
        let transactions = try fixture.requests(method: "POST", path: "/v1/tax/transactions/create_from_calculation")
        #expect(transactions.count == 4)
        // The rate Stripe Tax used is the one described on Stripe's invoice line.
        let stripeId = try #require(try fixture.invoice("inv_acme_20260401")["stripeInvoiceId"] as? String)
        let taxes = try fixture.list("/v1/invoices/\(stripeId)/lines").flatMap { ($0["taxes"] as? [[String: Any]]) ?? [] }
        #expect(taxes.compactMap { $0["amount"] as? Int } == [210])

        let again = try fixture.billRun()
        #expect(again.stdout.contains("issue: issued 0, not required 0, failed 0, skipped 0\n"), "\(again)")
        #expect(try fixture.requests(method: "POST", path: "/v1/tax/transactions/create_from_calculation").count == 4)
    }

    /// Stripe Tax answering 500 until the client gives up: enforced, the invoice fails at tax;
    /// not enforced, it is issued without tax.
    @Test(arguments: Backend.allCases)
    func stripeTaxFailingFailsTheInvoiceOnlyWhenTaxIsEnforced(_ backend: Backend) throws {
        for enforced in [true, false] {
            let fixture = try fixture(backend, enforced: enforced)
            try fixture.simulator.control("POST", "faults", ["kind": "500", "method": "POST", "path": "/v1/tax/calculations", "count": 4])
            let run = try fixture.billRun(environment: ["TOLLBOOTH_LOG_LEVEL": "critical"])
            let invoice = try fixture.invoice("inv_acme_20260401")
            if enforced {
                #expect(run.status == 1, "\(run)")
                #expect(run.stdout.contains("tax: taxed 3 invoices, failed 1"), "\(run)")
                let message = (invoice["failure"] as? [String: Any])?["message"] as? String ?? ""
                #expect(message.hasPrefix("Stripe Tax could not calculate the tax of inv_acme_20260401, and tax is enforced"), "\(message)")
            } else {
                #expect(run.status == 0, "\(run)")
                #expect(invoice["tax"] as? String == "0.00")
                #expect(invoice["status"] as? String == "payment_failed", "issued, then its payment failed: no card")
            }
        }
    }
}
