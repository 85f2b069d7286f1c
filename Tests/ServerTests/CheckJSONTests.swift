import Foundation
import Testing
@testable import Billing
@testable import Server

@Suite struct CheckJSONTests {
    func period() -> Period {
        Period(start: Instant(rfc3339: "2026-12-01T00:00:00Z")!, end: Instant(rfc3339: "2027-01-01T00:00:00Z")!)
    }

    /// The allowed reply is written directly; its bytes must be JSONValue's, which sorts members.
    @Test func theAllowedReplyIsTheSortedJSONOfItsFields() {
        var full = CheckFacts(feature: "api_requests")
        full.customer = "acme \"eu\""
        full.subject = "acme_prod"
        full.subscription = "sub_1"
        full.plan = "starter"
        full.usage = Decimal(string: "1234.25")!
        full.limit = 10_000
        full.balance = Decimal(string: "8765.75")!
        full.overage = 0
        full.isSoftLimit = false
        full.period = period()
        var unmetered = CheckFacts(feature: "support\n")
        unmetered.customer = "acme"
        // The same facts written around a resolved check's template: its fixed members are
        // written once, the three figures each time.
        var templated = full
        var fixed = full
        (fixed.usage, fixed.balance, fixed.overage) = (nil, nil, nil)
        templated.allowedTemplate = CheckJSON.AllowedTemplate(fixed)
        for facts in [full, templated, unmetered, CheckFacts(feature: "x")] {
            let sorted = JSONValue.object([("allowed", .bool(true))] + CheckJSON.fields(facts)).text()
            #expect(CheckJSON.allowedText(facts) == sorted)
        }
        #expect(CheckJSON.allowedText(full).hasPrefix(#"{"allowed":true,"balance":8765.75,"customer":"acme \"eu\"","#))
    }

    @Test func aPathsMethodsComeFromItsRoutes() {
        let table = RouteTable()
        table.add(.get, "/v1/customers/:key/usage")
        table.add(.post, "/v1/customers/:key/usage-link")
        table.add(.post, "/v1/check")
        #expect(table.methods(for: "/v1/customers/acme/usage") == ["GET"])
        #expect(table.methods(for: "/v1/check") == ["POST"])
        #expect(table.methods(for: "/v1/customers/acme") == [])
        #expect(table.methods(for: "/v1/customers/acme/usage/extra") == [])
    }
}
