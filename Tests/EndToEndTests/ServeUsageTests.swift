import Foundation
import Testing
import TestSupport

/// The usage JSON, signed usage links and the customer's usage page through the built
/// `tollbooth serve` on loopback; the page rendered by headless Chromium and measured with
/// Pillow; the OpenAPI document held against the running server by Schemathesis.
extension ServeTests {
    /// Acme's API requests on Dec 1 to 7, 2026 (Starter: 10,000 a month, 0.002 each, 29.00 a
    /// month in advance): 120 + 340 + 0 + 80 + 410 + 260 + 50 = 1,260.
    static let dailyRequests = [120, 340, 0, 80, 410, 260, 50]
    /// The server's clock starts here (`serve --at`).
    static let serverNow = "2026-12-07T12:00:00Z"

    /// `setUp()` with the daily requests ingested from a file.
    func setUpUsage(_ backend: Backend) throws -> (cli: CLI, admin: String, check: String, key: String) {
        let (cli, admin, check, _, key, _) = try setUp(backend)
        var lines: [String] = []
        for (index, count) in Self.dailyRequests.enumerated() {
            for n in 0..<count {
                let time = String(format: "2026-12-%02dT%02d:%02d:00Z", index + 1, 8 + n / 60, n % 60)
                lines.append(#"{"specversion":"1.0","id":"d\#(index)-\#(n)","source":"gateway","type":"api.request","subject":"acme_prod","time":"\#(time)","data":{}}"#)
            }
        }
        let ingest = try cli.run("meter", "ingest", try cli.write("december.ndjson", lines.joined(separator: "\n")), "--at", Self.serverNow)
        #expect(ingest.status == 0 && ingest.stdout.contains("accepted 1260"), "\(ingest)")
        return (cli, admin, check, key)
    }

    /// A link made through the server, for its own address.
    func usageLink(_ server: Served, admin: String, ttl: String? = nil) throws -> String {
        let answer = try server.call("POST", "/v1/customers/acme/usage-link", token: admin, json: ttl.map { ["ttl": $0] } ?? [String: Any]())
        #expect(answer.status == 200, "\(answer)")
        return try #require(answer.body["url"] as? String)
    }

    @Test(arguments: Backend.allCases)
    func theUsageJSONHasEveryDayOfTheBillingPeriodAndTheProjectedInvoice(_ backend: Backend) throws {
        let (cli, admin, check, key) = try setUpUsage(backend)
        let server = try Served(cli, arguments: ["--at", Self.serverNow])
        // A consuming check now stores one more request on Dec 7.
        #expect(try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests", "consume": true]).status == 200)
        let usage = try server.call("GET", "/v1/customers/acme/usage", token: admin)
        #expect(usage.status == 200, "\(usage)")
        let text = String(decoding: usage.data, as: UTF8.self)
        #expect(usage.body["plan"] as? String == "starter" && usage.body["planName"] as? String == "Starter")
        #expect(usage.body["billingPeriodStart"] as? String == "2026-12-01T00:00:00Z")
        #expect(usage.body["billingPeriodEnd"] as? String == "2027-01-01T00:00:00Z")
        let features = try #require(usage.body["features"] as? [[String: Any]])
        #expect(features.count == 1)
        let requests = try #require(features.first)
        #expect(requests["feature"] as? String == "api_requests" && requests["aggregation"] as? String == "COUNT")
        // 1,260 + 1 used of 10,000: 8,739 left; the quota's daily share is
        // 10,000 x 86,400 / 2,678,400 (December's seconds) = 322.580645 (6 decimals).
        #expect(requests["usage"] as? Int == 1_261 && requests["limit"] as? Int == 10_000 && requests["balance"] as? Int == 8_739, "\(requests)")
        #expect(text.contains(#""dailyQuota":322.580645,"#), "\(text)")
        let daily = try #require(requests["daily"] as? [[String: Any]])
        #expect(daily.count == 31)
        #expect(daily.first?["date"] as? String == "2026-12-01" && daily.last?["date"] as? String == "2026-12-31")
        #expect(daily.map { $0["usage"] as? Int } == (Self.dailyRequests.dropLast() + [51] + Array(repeating: 0, count: 24)).map { Optional($0) })
        // The Jan 1 invoice: December's 1,261 requests x 0.002 = 2.522 -> 2.52, and January's
        // fee 29.00 in advance; no tax provider: total 31.52.
        let invoice = try #require(usage.body["invoice"] as? [String: Any])
        #expect(invoice["billDate"] as? String == "2027-01-01T00:00:00Z" && invoice["status"] as? String == "draft", "\(invoice)")
        #expect(invoice["subtotal"] as? String == "31.52" && invoice["tax"] as? String == "0.00" && invoice["total"] as? String == "31.52", "\(invoice)")
        let lines = try #require(invoice["lines"] as? [[String: Any]])
        #expect(lines.contains { $0["kind"] as? String == "usage" && $0["quantity"] as? String == "1261" && $0["amount"] as? String == "2.52" }, "\(lines)")
        #expect(lines.contains { $0["kind"] as? String == "fee" && $0["amount"] as? String == "29.00" && $0["periodStart"] as? String == "2027-01-01T00:00:00Z" },
                "\(lines)")
        #expect(try server.call("GET", "/v1/customers/nobody/usage", token: admin).status == 404)
        #expect(try server.call("GET", "/v1/customers/acme/usage", token: check).status == 403)
    }

    @Test(arguments: Backend.allCases)
    func usageLinksAreSignedExpireAndNeverReachTheLog(_ backend: Backend) throws {
        let (cli, admin, check, _) = try setUpUsage(backend)
        // From the command line: server.listen's address, a day from --at.
        let made = try cli.run("customers", "usage-link", "acme", "--ttl", "P1D", "--at", "2026-12-07T10:00:00Z")
        #expect(made.status == 0, "\(made)")
        let expiry = 1_796_724_000 // 2026-12-08T10:00:00Z
        #expect(made.output.hasPrefix("http://127.0.0.1:8080/portal/usage?token=acme.\(expiry)."), "\(made)")
        #expect(made.stderr.contains("2026-12-08T10:00:00Z"), "\(made)")
        let server = try Served(cli, arguments: ["--at", Self.serverNow])
        // The server verifies it with the key the command line stored.
        let path = String(made.output.dropFirst("http://127.0.0.1:8080".count))
        let page = try server.call("GET", path)
        #expect(page.status == 200 && String(decoding: page.data, as: UTF8.self).contains("Acme Corp"), "\(page.status)")

        // Through the server: its own address; an hour, or 7 days by default.
        let hour = try server.call("POST", "/v1/customers/acme/usage-link", token: admin, json: ["ttl": "PT1H"])
        #expect(hour.status == 200 && (hour.body["url"] as? String)?.hasPrefix(server.base + "/portal/usage?token=acme.") == true, "\(hour)")
        #expect((hour.body["expiresAt"] as? String)?.hasPrefix("2026-12-07T13:00:") == true, "\(hour)")
        let week = try server.call("POST", "/v1/customers/acme/usage-link", token: admin)
        #expect((week.body["expiresAt"] as? String)?.hasPrefix("2026-12-14T12:00:") == true, "\(week)")
        let url = try #require(hour.body["url"] as? String)
        let token = String(url.split(separator: "=", maxSplits: 1)[1])
        #expect(try server.call("GET", "/portal/usage?token=" + token).status == 200)

        // Tampered: another MAC, the same MAC spelt another way (the unused low bits of its last
        // base64url character), a later expiry, another customer; none, or not a token: 401.
        let parts = token.split(separator: ".").map(String.init)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let mac = Array(parts[2])
        let first = try #require(alphabet.firstIndex(of: mac[0])), last = try #require(alphabet.firstIndex(of: mac[mac.count - 1]))
        let otherMac = String(alphabet[(first + 1) % 64]) + String(mac.dropFirst())
        let respelt = String(mac.dropLast()) + String(alphabet[last ^ 1])
        for forged in ["acme.\(parts[1]).\(otherMac)", "acme.\(parts[1]).\(respelt)", "acme.\(Int(parts[1])! + 86_400).\(parts[2])",
                       "globex.\(parts[1]).\(parts[2])", "acme", "x.y.z"] {
            let refused = try server.call("GET", "/portal/usage?token=" + forged)
            #expect(refused.status == 401 && refused.body["detail"] as? String == "the usage link is not valid; ask for a new one", "\(forged): \(refused)")
        }
        let none = try server.call("GET", "/portal/usage")
        #expect(none.status == 401 && none.body["title"] as? String == "Unauthorized", "\(none)")
        // Genuine but expired: 403.
        let old = try cli.run("customers", "usage-link", "acme", "--ttl", "P1D", "--at", "2026-12-01T00:00:00Z")
        let expired = try server.call("GET", String(old.output.dropFirst("http://127.0.0.1:8080".count)))
        #expect(expired.status == 403 && expired.body["detail"] as? String == "the usage link expired at 2026-12-02T00:00:00Z; ask for a new one", "\(expired)")

        // Refused requests for links.
        let badTTL = try server.call("POST", "/v1/customers/acme/usage-link", token: admin, json: ["ttl": "soon"])
        #expect(badTTL.status == 422 && badTTL.body["field"] as? String == "ttl", "\(badTTL)")
        let tooLong = try server.call("POST", "/v1/customers/acme/usage-link", token: admin, json: ["ttl": "P400D"])
        #expect(tooLong.status == 422 && tooLong.body["detail"] as? String == "the ttl P400D is longer than a link may live (P366D at most)", "\(tooLong)")
        #expect(try server.call("POST", "/v1/customers/nobody/usage-link", token: admin).status == 404)
        #expect(try server.call("POST", "/v1/customers/acme/usage-link", token: check).status == 403)
        #expect(try server.call("POST", "/v1/customers/acme/usage-link", token: admin, body: Data("[1".utf8)).status == 400)
        #expect(try cli.run("customers", "usage-link", "nobody").status == 2)
        #expect(try cli.run("customers", "usage-link", "acme", "--ttl", "soon").status == 2)

        // No token reaches the log: only the route is logged.
        #expect(server.stop() == 0)
        let log = try String(contentsOf: cli.folder.appendingPathComponent("serve.log"), encoding: .utf8)
        #expect(log.contains("http.route=/portal/usage http.status=200"), "\(log)")
        for secret in [token, parts[2], String(made.output.split(separator: ".").last ?? "")] { #expect(!log.contains(secret)) }
    }

    @Test(arguments: Backend.allCases)
    func theUsagePageRendersInChromiumWithBarsThatMatchTheData(_ backend: Backend) throws {
        let (cli, admin, _, _) = try setUpUsage(backend)
        let server = try Served(cli, arguments: ["--at", Self.serverNow])
        let url = try usageLink(server, admin: admin)
        let page = try server.call("GET", String(url.dropFirst(server.base.count)))
        let html = String(decoding: page.data, as: UTF8.self)
        #expect(page.status == 200 && html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script"))
        for text in ["Acme Corp", "Starter", "1 Dec 2026 – 31 Dec 2026", "1,260", "10,000", "8,740", "12.6% of the quota used",
                     "Day (UTC)", "API requests per day", "322.58/day", "Next invoice", "2.52 USD", "29.00 USD", "31.52 USD"] {
            #expect(html.contains(text), "\(text)")
        }

        let chromium = try PythonTools.debianExecutable("chromium", package: "chromium")
        let tools = try PythonTools.environment("tollbooth-test-tools-venv", packages: ["pillow", "schemathesis"], probe: "import PIL, schemathesis")
        let screenshot = cli.folder.appendingPathComponent("usage-page.png").path
        let shot = try PythonTools.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                                                  "--force-device-scale-factor=1", "--user-data-dir=" + cli.folder.appendingPathComponent("chromium").path,
                                                  "--window-size=1000,1060", "--screenshot=" + screenshot, url])
        #expect(shot.status == 0 && FileManager.default.fileExists(atPath: screenshot), "\(shot.stderr)")
        let measured = try PythonTools.run(tools + "/bin/python", [PythonTools.script("measure_chart.py"), screenshot, "2563eb"])
        #expect(measured.status == 0, "\(measured.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(measured.stdout.utf8)) as? [String: Any])
        // Not blank: many colours, and much of the page is not its background.
        #expect((figures["colours"] as? Int ?? 0) > 50 && (figures["notBackground"] as? Double ?? 0) > 0.1, "\(figures)")
        // One bar per day with usage (Dec 3 has none), in day order, heights in proportion.
        let bars = try #require(figures["bars"] as? [[String: Any]])
        let days = Self.dailyRequests.indices.filter { Self.dailyRequests[$0] > 0 }
        #expect(bars.count == days.count, "\(bars)")
        guard bars.count == days.count, let first = bars.first?["centre"] as? Double, let last = bars.last?["centre"] as? Double else { return }
        let slot = (last - first) / Double(days.last! - days.first!)
        let tallest = Double(bars.compactMap { $0["height"] as? Int }.max() ?? 0)
        #expect(tallest > 80, "\(bars)")
        for (bar, day) in zip(bars, days) {
            let centre = try #require(bar["centre"] as? Double), height = try #require(bar["height"] as? Int)
            #expect(abs((centre - first) / slot - Double(day - days.first!)) < 0.05, "day \(day + 1): \(bars)")
            let expected = tallest * Double(Self.dailyRequests[day]) / Double(Self.dailyRequests.max()!)
            #expect(abs(Double(height) - expected) <= 1.5, "day \(day + 1): \(height) px, \(expected) expected: \(bars)")
        }
        // Recorded once, from the SQLite run: the page is the same on both backends.
        if backend == .sqlite, ProcessInfo.processInfo.environment["TOLLBOOTH_RECORD_SCREENSHOT"] == "1" {
            let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("docs/usage-page.png")
            try? FileManager.default.removeItem(at: docs)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: screenshot), to: docs)
        }
    }

    @Test(arguments: Backend.allCases)
    func schemathesisFindsNoServerErrorAndNoAnswerThatBreaksTheDocument(_ backend: Backend) throws {
        let (cli, admin, _, _) = try setUpUsage(backend)
        // Stripe connected (to the simulator), so its routes answer as on a configured
        // installation; the server's own address is not known yet, any will do for the endpoint.
        let simulator = try Simulator(arguments: ["--limits", "none"])
        try ServeStripeTests.Live.writeSettings(cli, [
            "stripe": ["apiBase": simulator.baseURL, "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000],
            "server": ["publicUrl": "http://127.0.0.1:9"],
        ])
        let connected = try cli.run(["stripe", "connect"], environment: ["TOLLBOOTH_STRIPE_KEY": ServeStripeTests.key])
        #expect(connected.status == 0, "\(connected)")
        let subscription = try cli.query("SELECT id FROM subscriptions").trimmingCharacters(in: .whitespacesAndNewlines)
        let keyId = try cli.query("SELECT id FROM api_keys").trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try Served(cli, arguments: ["--at", Self.serverNow])
        let tools = try PythonTools.environment("tollbooth-test-tools-venv", packages: ["pillow", "schemathesis"], probe: "import PIL, schemathesis")
        // Real values for the path, the page's token and the check's feature, so the routes answer
        // more than 404 and 401: Acme, its metered feature, its subscription and key, a link
        // valid for a day, the sample catalog's plans.
        let link = try usageLink(server, admin: admin, ttl: "P1D")
        let config = try cli.write("schemathesis.toml", """
            [parameters]
            "path.key" = "acme"
            "path.feature" = "api_requests"
            "path.id" = "\(subscription)"
            "path.keyId" = "\(keyId)"
            "query.token" = "\(link.split(separator: "=", maxSplits: 1)[1])"
            "body.feature" = "api_requests"
            "body.customer" = "acme"
            "body.plan" = "pro"
            """)
        // Through its module: the environment was renamed into place, so its scripts' #! lines are stale.
        let run = try PythonTools.run(tools + "/bin/python", [
            "-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())",
            "--config-file", config, "run", server.base + "/openapi.yaml", "--url", server.base, "--header", "Authorization: Bearer \(admin)",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", "30", "--seed", "14", "--workers", "1", "--no-color",
        ], in: cli.folder)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        // Still serving: a server that stopped under the run says how (its exit or signal) and
        // what it logged last.
        try #require(server.process.isRunning, """
            serve stopped during the run: \(server.process.terminationReason == .uncaughtSignal ? "signal" : "exit") \(server.process.terminationStatus); \
            its log ends: \(String((try? String(contentsOf: cli.folder.appendingPathComponent("serve.log"), encoding: .utf8))?.suffix(2_000) ?? ""))
            """)
        // Every operation of the document was tried but GET /openapi.yaml (the document itself,
        // which Schemathesis leaves out), and none only with 404s or 401s.
        let operations = try operations(in: server)
        #expect(operations == 25 && run.stdout.contains("Tested: \(operations - 1)\n"), "\(run.stdout)")
        #expect(!run.stdout.contains("Missing test data") && !run.stdout.contains("Authentication failed"), "\(run.stdout)")
        #expect(server.stop() == 0)
    }

    /// How many operations (path and method) the served document has.
    func operations(in server: Served) throws -> Int {
        let document = String(decoding: try server.call("GET", "/openapi.yaml").data, as: UTF8.self)
        return document.split(separator: "\n").filter { line in
            ["    get:", "    post:", "    put:", "    delete:", "    patch:"].contains(String(line))
        }.count
    }
}
