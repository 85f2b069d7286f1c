import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing

/// A database with two customers billed for April 2026, connected to a `stripe-sim` of its own.
///
/// Acme (US, CA, sales tax 7.25%) on Starter (29.00 a month in advance, requests at 0.002) with
/// 5 requests in April; Initech (tax exempt) on Pro (99.00 a month). A run as of 2026-05-01T02:00Z
/// makes four invoices:
///   inv_acme_20260401     fee 29.00, tax round(29.00 x 0.0725 = 2.1025) = 2.10      total 31.10
///   inv_acme_20260501     fee 29.00 (tax 2.10) + usage 5 x 0.002 = 0.01 (tax 0.00)  total 31.11
///   inv_initech_20260401  fee 99.00, exempt                                          total 99.00
///   inv_initech_20260501  fee 99.00 + April requests 0 and tokens 0 (0.00 each)       total 99.00
struct IssueFixture {
    static let key = "sk_test_issue0000000000001"
    static let asOf = "2026-05-01T02:00:00Z"
    /// Each local invoice's Stripe total in cents and number of items.
    static let expected: [String: (total: Int, items: Int)] = [
        "inv_acme_20260401": (3110, 1), "inv_acme_20260501": (3111, 2),
        "inv_initech_20260401": (9900, 1), "inv_initech_20260501": (9900, 3),
    ]

    let cli: CLI
    let simulator: Simulator

    init(_ backend: Backend = .sqlite, settings: [String: Any] = [:], connect: Bool = true) throws {
        cli = try CLI(backend)
        simulator = try Simulator(arguments: ["--limits", "none"])
        var stripe: [String: Any] = ["apiBase": simulator.baseURL, "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000]
        if let extra = settings["stripe"] as? [String: Any] { stripe.merge(extra) { $1 } }
        var file: [String: Any] = [
            "stripe": stripe,
            "tax": ["provider": "rates", "rates": [["country": "US", "state": "CA", "rate": "0.0725", "name": "CA sales tax"]]],
        ]
        file.merge(settings.filter { $0.key != "stripe" }) { $1 }
        try cli.write("tollbooth.json", String(decoding: try JSONSerialization.data(withJSONObject: file), as: UTF8.self))
        try cli.importFixtures()
        for (customer, plan) in [("acme", "starter"), ("initech", "pro")] {
            let created = try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", "2026-04-01T00:00:00Z")
            #expect(created.status == 0, "\(created)")
        }
        let events = (1...5).map {
            #"{"specversion":"1.0","id":"r\#($0)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-04-10T09:00:0\#($0)Z","data":{}}"#
        }
        let ingest = try cli.run("meter", "ingest", try cli.write("april.ndjson", events.joined(separator: "\n") + "\n"), "--at", "2026-04-15T00:00:00Z")
        #expect(ingest.stdout == "accepted 5, duplicate 0, rejected 0\n", "\(ingest)")
        if connect {
            let connected = try cli.run(["stripe", "connect"], environment: ["TOLLBOOTH_STRIPE_KEY": IssueFixture.key])
            #expect(connected.status == 0, "\(connected)")
        }
    }

    @discardableResult
    func run(_ arguments: String..., environment: [String: String] = [:]) throws -> Outcome {
        try cli.run(arguments, environment: environment)
    }

    func billRun(environment: [String: String] = [:]) throws -> Outcome {
        try cli.run(["run", "--as-of", IssueFixture.asOf], environment: environment)
    }

    /// A GET of Stripe's API on the simulator, with the fixture's key.
    func stripe(_ path: String, key: String = IssueFixture.key) throws -> [String: Any] {
        var request = URLRequest(url: URL(string: simulator.baseURL + path)!)
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        let (data, status) = try SimulatorControl.send(request)
        #expect(status == 200, "GET \(path): \(String(decoding: data, as: UTF8.self))")
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    func list(_ path: String) throws -> [[String: Any]] {
        (try stripe(path + (path.contains("?") ? "&" : "?") + "limit=100")["data"] as? [[String: Any]]) ?? []
    }

    /// The local invoices, as `invoices list --format json` prints them.
    func invoices() throws -> [[String: Any]] {
        let list = try run("invoices", "list", "--format", "json")
        #expect(list.status == 0, "\(list)")
        return (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    func invoice(_ id: String) throws -> [String: Any] {
        let show = try run("invoices", "show", id, "--format", "json")
        #expect(show.status == 0, "\(show)")
        return (try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Checks that Stripe holds exactly one customer per customer, one finalized invoice per
    /// local invoice with the expected items and total, and nothing else.
    func expectExactlyOnce(_ sourceLocation: SourceLocation = #_sourceLocation) throws {
        let customers = try list("/v1/customers")
        #expect(customers.count == 2, "Stripe customers: \(customers.map { $0["metadata"] ?? "" })", sourceLocation: sourceLocation)
        #expect(Set(customers.compactMap { ($0["metadata"] as? [String: String])?["tollbooth_customer"] }) == ["acme", "initech"],
                sourceLocation: sourceLocation)
        let remote = try list("/v1/invoices")
        #expect(remote.count == IssueFixture.expected.count, "Stripe invoices: \(remote.count)", sourceLocation: sourceLocation)
        for (id, expected) in IssueFixture.expected {
            let matching = remote.filter { ($0["metadata"] as? [String: String])?["tollbooth_invoice"] == id }
            #expect(matching.count == 1, "\(id): \(matching.count) Stripe invoices", sourceLocation: sourceLocation)
            guard let stripeInvoice = matching.first, let stripeId = stripeInvoice["id"] as? String else { continue }
            #expect(stripeInvoice["total"] as? Int == expected.total, "\(id) total \(stripeInvoice["total"] ?? "")", sourceLocation: sourceLocation)
            #expect(stripeInvoice["status"] as? String != "draft", "\(id) was not finalized", sourceLocation: sourceLocation)
            let items = try list("/v1/invoiceitems?invoice=\(stripeId)")
            #expect(items.count == expected.items, "\(id): \(items.count) items", sourceLocation: sourceLocation)
            let lineIds = items.compactMap { ($0["metadata"] as? [String: String])?["tollbooth_line"] }
            #expect(Set(lineIds).count == expected.items, "\(id): items for lines \(lineIds)", sourceLocation: sourceLocation)
            let local = try invoice(id)
            #expect(local["stripeInvoiceId"] as? String == stripeId, sourceLocation: sourceLocation)
            #expect(local["number"] as? String == stripeInvoice["number"] as? String, sourceLocation: sourceLocation)
            #expect(local["hostedInvoiceUrl"] as? String == stripeInvoice["hosted_invoice_url"] as? String, sourceLocation: sourceLocation)
        }
    }

    /// The API requests the simulator served, optionally only `method` calls under `path`.
    func requests(method: String? = nil, path: String? = nil) throws -> [[String: Any]] {
        var query: [String: Any] = [:]
        if let method { query["method"] = method }
        if let path { query["path"] = path }
        return (try simulator.control("GET", "requests", query)["data"] as? [[String: Any]]) ?? []
    }
}
