import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `tollbooth serve` through real HTTP on loopback: the built binary, a client, no mocks.
///
/// The sample catalog's Starter plan: api_requests with a hard quota of 10,000 a month; Pro:
/// requests without a quota, priced by tiers. Acme's subjects are acme_prod and acme_staging.
@Suite(.serialized) struct ServeTests {
    /// A running `tollbooth serve` on a free port of the test's database.
    final class Served {
        let process = Process()
        let base: String
        let out: URL

        init(_ cli: CLI, arguments: [String] = []) throws {
            out = cli.folder.appendingPathComponent("serve-\(UUID().uuidString).out")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            process.executableURL = try #require(CLI.binary)
            process.arguments = ["serve", "--listen", "127.0.0.1:0"] + arguments
            process.currentDirectoryURL = cli.folder
            var environment = ProcessInfo.processInfo.environment
            environment.merge(cli.databaseEnvironment) { $1 }
            process.environment = environment
            process.standardOutput = try FileHandle(forWritingTo: out)
            process.standardError = try FileHandle(forWritingTo: cli.folder.appendingPathComponent("serve.log").creatingFile())
            try process.spawn()
            let deadline = Date().addingTimeInterval(30)
            var found: String?
            while found == nil, Date() < deadline, process.isRunning {
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                found = text.split(separator: "\n").first { $0.hasPrefix("listening on ") }.map { String($0.dropFirst(13)) }
                if found == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            base = try #require(found, "serve did not start")
        }

        func stop() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit { if process.isRunning { process.terminate() } }

        /// One request; the status and the JSON object answered (if the body is one).
        @discardableResult
        func call(_ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil,
                  headers: [String: String] = [:]) throws -> (status: Int, body: [String: Any], data: Data) {
            var request = URLRequest(url: URL(string: base + path)!)
            request.httpMethod = method
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let json { request.httpBody = try JSONSerialization.data(withJSONObject: json) }
            if let body { request.httpBody = body }
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            let (data, status) = try SimulatorControl.send(request)
            return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:], data)
        }
    }

    /// Fixtures, Acme on Starter from Dec 1, a token of each scope and an API key for Acme.
    func setUp(_ backend: Backend = .sqlite, plan: String = "starter") throws -> (cli: CLI, admin: String, check: String, ingest: String, key: String, subscription: String) {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let subscription = try cli.run("subscriptions", "create", "--customer", "acme", "--plan", plan, "--at", "2026-12-01T00:00:00Z")
        #expect(subscription.status == 0, "\(subscription)")
        var tokens: [String] = []
        for scope in ["admin", "check", "ingest"] {
            let token = try cli.run("tokens", "create", "--scope", scope)
            #expect(token.status == 0 && token.output.hasPrefix("tbt_") && token.output.count == 36, "\(token)")
            tokens.append(token.output)
        }
        let key = try cli.run("customers", "api-key", "create", "acme")
        #expect(key.status == 0 && key.output.hasPrefix("tb_test_") && key.output.count == 40, "\(key)")
        return (cli, tokens[0], tokens[1], tokens[2], key.output, subscription.output)
    }

    func event(_ id: String, subject: String = "acme_prod", time: String = "2026-12-05T10:00:00Z") -> [String: Any] {
        ["specversion": "1.0", "id": id, "source": "gateway", "type": "api.request", "subject": subject, "time": time, "data": [String: Any]()]
    }

    /// Waits up to `seconds` for `condition`, polling.
    func eventually(_ seconds: Double = 1.0, _ condition: () throws -> Bool) rethrows -> Bool {
        try poll(for: seconds, condition)
    }

    @Test(arguments: Backend.allCases) func theOpenAPIDocumentAndMetricsAreServed(_ backend: Backend) throws {
        let (cli, admin, _, _, key, _) = try setUp(backend)
        let server = try Served(cli)
        let document = String(decoding: try server.call("GET", "/openapi.yaml").data, as: UTF8.self)
        #expect(document.hasPrefix("openapi: 3.1.0"))
        for route in ["/healthz:", "/v1/events:", "/v1/check:", "/v1/customers/{key}/entitlements/{feature}/value:", "/v1/customers/{key}/access:", "/v1/customers/{key}/usage:", "/metrics:"] {
            #expect(document.contains(route), "\(route)")
        }
        #expect(try server.call("POST", "/v1/check", token: admin, json: ["apiKey": key, "feature": "api_requests", "consume": true]).status == 200)
        let metrics = String(decoding: try server.call("GET", "/metrics").data, as: UTF8.self)
        #expect(metrics.contains(#"tollbooth_checks_total{outcome="allowed",reason=""} 1"#), "\(metrics)")
        #expect(metrics.contains(#"hb_requests{http_route="/v1/check",http_request_method="POST",http_response_status_code="200"} 1"#), "\(metrics)")
        #expect(metrics.contains("tollbooth_commit_events_count 1"), "\(metrics)")
    }

    @Test(arguments: Backend.allCases) func healthCredentialsAndScopes(_ backend: Backend) throws {
        let (cli, admin, check, ingest, key, _) = try setUp(backend)
        let server = try Served(cli)
        #expect(try server.call("GET", "/healthz").status == 200)
        // A path that has routes, asked with another method: 405 naming the methods; no path: 404.
        let wrongMethod = try server.call("GET", "/v1/check")
        #expect(wrongMethod.status == 405 && wrongMethod.body["detail"] as? String == "/v1/check answers POST", "\(wrongMethod)")
        #expect(try server.call("DELETE", "/v1/customers/acme/usage").status == 405)
        #expect(try server.call("GET", "/v1/nothing").status == 404)
        let none = try server.call("POST", "/v1/check", json: ["apiKey": key, "feature": "api_requests"])
        #expect(none.status == 401)
        #expect(none.body["title"] as? String == "Unauthorized")
        #expect(try server.call("POST", "/v1/check", token: "tbt_" + String(repeating: "x", count: 32), json: ["apiKey": key]).status == 401)
        let wrongScope = try server.call("POST", "/v1/check", token: ingest, json: ["apiKey": key, "feature": "api_requests"])
        #expect(wrongScope.status == 403)
        #expect(wrongScope.body["detail"] as? String == "this route needs a token of scope check; this one has ingest")
        #expect(try server.call("POST", "/v1/events", token: check, json: [event("e1")]).status == 403)
        #expect(try server.call("POST", "/v1/check", token: admin, json: ["apiKey": key, "feature": "api_requests"]).status == 200)
        // A revoked token is refused within a second.
        let id = try #require(cli.run("tokens", "list").stdout.split(separator: "\n").first { $0.contains("  check  ") }?.split(separator: " ").first)
        #expect(try cli.run("tokens", "revoke", String(id)).status == 0)
        #expect(try eventually { try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"]).status == 401 })
        // Neither the token nor the key ever reaches the log.
        #expect(server.stop() == 0)
        let log = try String(contentsOf: cli.folder.appendingPathComponent("serve.log"), encoding: .utf8)
        #expect(log.contains("http.route=/v1/check http.status=200"), "\(log)")
        for secret in [admin, check, ingest, key] { #expect(!log.contains(secret)) }
    }

    @Test(arguments: Backend.allCases) func eventsInEveryModeAreCountedAndRejectedWithTheirIndex(_ backend: Backend) throws {
        let (cli, admin, _, ingest, key, _) = try setUp(backend)
        let server = try Served(cli)
        // Batched: two good events, one repeat of the first, one without a subject.
        var bad = event("e4")
        bad.removeValue(forKey: "subject")
        let batch = try server.call("POST", "/v1/events", token: ingest, body: try JSONSerialization.data(withJSONObject: [event("e1"), event("e2"), event("e1"), bad]),
                                    headers: ["Content-Type": "application/cloudevents-batch+json"])
        #expect(batch.status == 202, "\(batch)")
        #expect(batch.body["accepted"] as? Int == 2)
        #expect(batch.body["duplicate"] as? Int == 1)
        #expect(batch.body["rejected"] as? Int == 1)
        let errors = try #require(batch.body["errors"] as? [[String: Any]])
        #expect(errors.count == 1 && errors[0]["index"] as? Int == 3 && (errors[0]["reason"] as? String)?.contains("subject") == true, "\(errors)")
        // Structured, pretty-printed over several lines.
        let structured = try server.call("POST", "/v1/events", token: ingest,
                                         body: try JSONSerialization.data(withJSONObject: event("e5"), options: [.prettyPrinted]),
                                         headers: ["Content-Type": "application/cloudevents+json"])
        #expect(structured.status == 202 && structured.body["accepted"] as? Int == 1, "\(structured)")
        // Binary: attributes in ce- headers, the body is data.
        let binary = try server.call("POST", "/v1/events", token: ingest, body: Data("{}".utf8), headers: [
            "Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "e6", "ce-source": "gateway", "ce-type": "api.request",
            "ce-subject": "acme_prod", "ce-time": "2026-12-05T10:00:00Z",
        ])
        #expect(binary.status == 202 && binary.body["accepted"] as? Int == 1, "\(binary)")
        // Not JSON: 400, nothing stored; too large: 413; another media type: 415.
        let broken = try server.call("POST", "/v1/events", token: ingest, body: Data(#"[{"id": "e7"}, {"id": "#.utf8),
                                     headers: ["Content-Type": "application/cloudevents-batch+json"])
        #expect(broken.status == 400, "\(broken)")
        #expect(broken.body["title"] as? String == "Bad Request")
        let large = try server.call("POST", "/v1/events", token: ingest, body: Data(repeating: 0x20, count: 1_100_000),
                                    headers: ["Content-Type": "application/cloudevents-batch+json"])
        #expect(large.status == 413, "\(large)")
        #expect(try server.call("POST", "/v1/events", token: ingest, body: Data("x".utf8), headers: ["Content-Type": "text/plain"]).status == 415)
        // Four events were accepted (e1, e2, e5, e6): the check counts them at once.
        let checked = try server.call("POST", "/v1/check", token: admin, json: ["apiKey": key, "feature": "api_requests"])
        #expect(checked.body["usage"] as? Int == 4, "\(checked)")
        #expect(server.stop() == 0)
        // Stored for the bill run: the segments hold the four events.
        let stored = try cli.run("run", "--at", "2027-01-01T02:00:00Z")
        #expect(stored.status == 0, "\(stored)")
    }

    @Test(arguments: Backend.allCases) func checksAnswerEveryReason(_ backend: Backend) throws {
        let (cli, admin, check, _, key, subscription) = try setUp(backend)
        let server = try Served(cli)
        let allowed = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
        #expect(allowed.status == 200, "\(allowed)")
        #expect(allowed.body["allowed"] as? Bool == true)
        #expect(allowed.body["customer"] as? String == "acme")
        #expect(allowed.body["plan"] as? String == "starter")
        #expect(allowed.body["limit"] as? Int == 10_000)
        #expect(allowed.body["periodStart"] as? String == "2026-12-01T00:00:00Z")
        #expect(allowed.body["periodEnd"] as? String == "2027-01-01T00:00:00Z")
        let bySubject = try server.call("POST", "/v1/check", token: check, json: ["subject": "acme_staging", "feature": "api_requests"])
        #expect(bySubject.status == 200 && bySubject.body["subject"] as? String == "acme_staging", "\(bySubject)")
        let unknown = try server.call("POST", "/v1/check", token: check, json: ["apiKey": "tb_test_" + String(repeating: "0", count: 32), "feature": "api_requests"])
        #expect(unknown.status == 403)
        #expect(unknown.body["detail"] as? String == "invalid key: the API key is unknown or revoked")
        let feature = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "gpu_minutes"])
        #expect(feature.status == 403)
        #expect((feature.body["detail"] as? String)?.hasPrefix("meter not in subscription") == true, "\(feature)")
        let missing = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key])
        #expect(missing.status == 422 && missing.body["field"] as? String == "feature", "\(missing)")
        #expect(try server.call("POST", "/v1/check", token: check, body: Data("not json".utf8)).status == 400)
        // A COUNT meter records an event per consumed unit: whole units, at most 1,000.
        for units in [1_001, 1.5] as [Any] {
            let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests", "units": units, "consume": true])
            #expect(answer.status == 422 && answer.body["field"] as? String == "units", "\(units): \(answer)")
        }
        let value = try server.call("GET", "/v1/customers/acme/entitlements/api_requests/value", token: check)
        #expect(value.status == 200 && value.body["hasAccess"] as? Bool == true && value.body["balance"] as? Int == 10_000, "\(value)")
        let access = try server.call("GET", "/v1/customers/acme/access", token: check)
        #expect((access.body["entitlements"] as? [String: Any])?["api_requests"] != nil, "\(access)")
        #expect(try server.call("GET", "/v1/customers/nobody/access", token: check).status == 404)
        let usage = try server.call("GET", "/v1/customers/acme/usage", token: admin)
        #expect(usage.status == 200 && usage.body["subscription"] as? String == subscription, "\(usage)")
        #expect(try server.call("GET", "/v1/customers/acme/usage", token: check).status == 403)

        // Revoked with the command line while the server runs: refused within a second.
        let keyId = try #require(cli.run("customers", "api-key", "list", "acme").stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").first)
        #expect(try cli.run("customers", "api-key", "revoke", "acme", String(keyId)).status == 0)
        #expect(try eventually {
            try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"]).body["detail"] as? String
                == "invalid key: the API key is unknown or revoked"
        })
        // Cancelled at once with the command line: expired subscription within a second.
        #expect(try cli.run("subscriptions", "cancel", subscription).status == 0)
        #expect(try eventually {
            let answer = try server.call("POST", "/v1/check", token: check, json: ["subject": "acme_prod", "feature": "api_requests"])
            return answer.status == 403 && (answer.body["detail"] as? String)?.hasPrefix("expired subscription") == true
        })
    }

    @Test(arguments: Backend.allCases) func pipelinedRequestsOnOneConnectionAreAnsweredInOrder(_ backend: Backend) throws {
        let (cli, _, check, _, _, _) = try setUp(backend)
        let server = try Served(cli)
        let port = try #require(URLComponents(string: server.base)?.port)
        func post(_ body: String) -> String {
            "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(check)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        func consume(_ id: String, units: Int = 1) -> String {
            post(#"{"subject":"acme_prod","feature":"api_requests","consume":true,"units":\#(units),"idempotencyKey":"\#(id)"}"#)
        }
        let plain = post(#"{"subject":"acme_prod","feature":"api_requests"}"#), bad = post(#"{"subject":"acme_prod","feature":"api_requests","units":-1}"#)
        // Each sequence is sent in one write; each answer must come back in its request's place.
        // The first starts with a consuming check, answered on the event loop once committed, while
        // the requests behind it wait; the second starts with a routed request, and the checks
        // behind it go the routed way too.
        let sequences: [(requests: [String], usage: [Int?])] = [
            // A consuming check's answer counts its own units: 3; the check after it sees 3; then
            // 3 + 1 = 4 and 4 + 1 = 5.
            ([consume("p-1", units: 3), plain, bad, health, consume("p-2"), consume("p-3")], [3, 3, nil, nil, 4, 5]),
            ([health, consume("p-4", units: 2), plain, bad, health, consume("p-5")], [nil, 7, 7, nil, nil, 8]),
        ]
        for (requests, usage) in sequences {
            let answers = try RawHTTP.exchange(port: port, requests.joined(), answers: requests.count)
            #expect(answers.map(\.status) == requests.map { $0 == bad ? 422 : 200 }, "\(answers)")
            let bodies = answers.map { (try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any]) ?? [:] }
            #expect(bodies.map { ($0["usage"] as? NSNumber)?.intValue } == usage, "\(answers)")
            for (request, body) in zip(requests, bodies) {
                if request == health { #expect(body["status"] as? String == "ok") }
                if request == bad { #expect(body["field"] as? String == "units") }
            }
            #expect(answers.allSatisfy { $0.headers["server"] == "tollbooth" && $0.headers["date"] != nil }, "\(answers)")
        }
        #expect(server.stop() == 0)
    }

    /// SIGTERM while consuming checks wait for their commit: each one stored is answered before
    /// its connection closes, and none is stored unanswered.
    @Test(arguments: Backend.allCases) func aStopAnswersTheConsumingChecksItTookIn(_ backend: Backend) throws {
        let (cli, _, check, _, _, _) = try setUp(backend)
        let server = try Served(cli)
        let port = try #require(URLComponents(string: server.base)?.port)
        func post(_ body: String) -> String {
            "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(check)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        // Each connection first checks without consuming, so the usage period is in memory and
        // the consuming check that follows waits only for its commit.
        let connections = try (0..<50).map { _ in try RawHTTP.Connection(port: port) }
        for connection in connections {
            try connection.send(post(#"{"subject":"acme_prod","feature":"api_requests"}"#))
            #expect(connection.receive(answers: 1).map(\.status) == [200])
        }
        for (index, connection) in connections.enumerated() {
            try connection.send(post(#"{"subject":"acme_prod","feature":"api_requests","consume":true,"idempotencyKey":"stop-\#(index)"}"#))
        }
        #expect(server.stop() == 0)
        let answered = connections.map { $0.receive(answers: 1) }
        let allowed = answered.filter { $0.map(\.status) == [200] }.count
        #expect(answered.allSatisfy { $0.isEmpty || $0.map(\.status) == [200] }, "\(answered)")
        // Every check the server stored was answered: a stop never leaves a gateway without the
        // answer to a request it counted.
        #expect(Int(try cli.query("SELECT coalesce(sum(count), 0) FROM usage_rows")) == allowed)
    }

    @Test(arguments: Backend.allCases) func aHardQuotaIsExactUnder200ConcurrentConsumingChecks(_ backend: Backend) throws {
        let (cli, _, check, _, key, _) = try setUp(backend)
        // 9,900 of the 10,000 requests used already, ingested from a file.
        let events = (0..<9_900).map { #"{"specversion":"1.0","id":"f\#($0)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-12-05T10:00:00Z","data":{}}"# }
        #expect(try cli.run("meter", "ingest", try cli.write("used.ndjson", events.joined(separator: "\n")), "--at", "2026-12-06T00:00:00Z").status == 0)
        let server = try Served(cli)
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = 200
        let session = URLSession(configuration: configuration)
        let group = DispatchGroup()
        final class Statuses: @unchecked Sendable {
            let lock = NSLock()
            var values: [Int] = []
            func add(_ status: Int) { lock.withLock { values.append(status) } }
        }
        let collected = Statuses()
        for index in 0..<200 {
            var request = URLRequest(url: URL(string: server.base + "/v1/check")!)
            request.httpMethod = "POST"
            request.setValue("Bearer \(check)", forHTTPHeaderField: "Authorization")
            request.httpBody = try JSONSerialization.data(withJSONObject: ["apiKey": key, "feature": "api_requests", "consume": true,
                                                                          "idempotencyKey": "c\(index)"])
            group.enter()
            session.dataTask(with: request) { _, response, _ in
                collected.add((response as? HTTPURLResponse)?.statusCode ?? 0)
                group.leave()
            }.resume()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        let statuses = collected.lock.withLock { collected.values }
        // Exactly the 100 left are allowed; the other 100 are denied.
        #expect(statuses.filter { $0 == 200 }.count == 100, "\(statuses)")
        #expect(statuses.filter { $0 == 403 }.count == 100)
        let after = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
        #expect(after.status == 403)
        #expect((after.body["detail"] as? String)?.hasPrefix("quota exhausted: 10,000 of 10,000 api_requests used") == true, "\(after)")
        #expect(server.stop() == 0)
        // Every allowed check was stored: 9,900 + 100 events bill 10,000 requests.
        #expect(try cli.run("run", "--at", "2027-01-01T02:00:00Z").status == 0)
        let show = try cli.run("invoices", "show", "inv_acme_20270101", "--format", "json")
        #expect(show.stdout.contains("\"quantity\": \"10000\""), "\(show)")
    }

    @Test(arguments: Backend.allCases) func anUpgradeWithTheCommandLineLiftsTheQuotaWithinASecond(_ backend: Backend) throws {
        let (cli, _, check, _, key, subscription) = try setUp(backend)
        let events = (0..<10_000).map { #"{"specversion":"1.0","id":"f\#($0)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-12-05T10:00:00Z","data":{}}"# }
        #expect(try cli.run("meter", "ingest", try cli.write("used.ndjson", events.joined(separator: "\n")), "--at", "2026-12-06T00:00:00Z").status == 0)
        let server = try Served(cli)
        let denied = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
        #expect(denied.status == 403 && (denied.body["detail"] as? String)?.hasPrefix("quota exhausted") == true, "\(denied)")
        // Pro's requests have no quota (a boolean entitlement, billed by its tiers).
        #expect(try cli.run("subscriptions", "change", subscription, "--plan", "pro").status == 0)
        #expect(try eventually {
            let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
            return answer.status == 200 && answer.body["plan"] as? String == "pro" && answer.body["limit"] == nil
        })
    }

    @Test(arguments: Backend.allCases) func aPaymentOverduePastItsGraceIsRefused(_ backend: Backend) throws {
        let (cli, _, check, _, key, _) = try setUp(backend)
        let server = try Served(cli)
        #expect(try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"]).status == 200)
        // The Dec 1 invoice's payment failed 10 days ago (Acme's grace: 5 days, its metadata),
        // as the collect stage records it.
        #expect(try cli.run("run", "--at", "2026-12-01T02:00:00Z").status == 0)
        let failedAt = Int(Date().timeIntervalSince1970) - 10 * 86_400
        let sql = "UPDATE invoices SET status = 'payment_failed', payment_failed_at = \(failedAt) WHERE id = 'inv_acme_20261201'"
        try cli.query(sql)
        #expect(try eventually {
            let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
            return answer.status == 403 && (answer.body["detail"] as? String)?.hasPrefix("payment overdue: invoice inv_acme_20261201") == true
        })
    }

    @Test(arguments: Backend.allCases) func aKillUnderEventLoadLosesNothingAnswered202AndTheResendCountsOnce(_ backend: Backend) throws {
        let (cli, _, _, ingest, _, _) = try setUp(backend)
        var server = try Served(cli)
        // 60 batches of 100 events, unique ids, sent by 4 clients; the server is killed midway.
        let batches = (0..<60).map { batch in
            try! JSONSerialization.data(withJSONObject: (0..<100).map { event("b\(batch)-\($0)") })
        }
        final class Answers: @unchecked Sendable {
            let lock = NSLock()
            var accepted: [Int: Int] = [:]
        }
        let answers = Answers()
        let base = server.base
        let senders = (0..<4).map { sender in
            Thread {
                for batch in stride(from: sender, to: 60, by: 4) {
                    var request = URLRequest(url: URL(string: base + "/v1/events")!)
                    request.httpMethod = "POST"
                    request.setValue("Bearer \(ingest)", forHTTPHeaderField: "Authorization")
                    request.setValue("application/cloudevents-batch+json", forHTTPHeaderField: "Content-Type")
                    request.httpBody = batches[batch]
                    guard let (data, status) = try? SimulatorControl.send(request), status == 202,
                          let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
                    answers.lock.withLock { answers.accepted[batch] = body["accepted"] as? Int }
                }
            }
        }
        senders.forEach { $0.start() }
        #expect(eventually(10) { answers.lock.withLock { answers.accepted.count } >= 10 })
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()
        Thread.sleep(forTimeInterval: 1)
        let answered = answers.lock.withLock { answers.accepted }
        #expect(answered.values.allSatisfy { $0 == 100 }, "\(answered)")
        // Restarted: every event answered 202 is in the store.
        server = try Served(cli)
        let stored = { () throws -> Int in Int(try cli.query("SELECT coalesce(sum(count), 0) FROM usage_rows")) ?? -1 }
        let afterKill = try stored()
        #expect(afterKill >= answered.count * 100, "\(afterKill) stored, \(answered.count) batches answered")
        // The client sends everything again: each event is counted once.
        for batch in 0..<60 {
            let answer = try server.call("POST", "/v1/events", token: ingest, body: batches[batch],
                                         headers: ["Content-Type": "application/cloudevents-batch+json"])
            #expect(answer.status == 202)
            if answered[batch] != nil { #expect(answer.body["duplicate"] as? Int == 100, "batch \(batch): \(answer.body)") }
        }
        let final = try stored(), log = try cli.query("SELECT count(*), coalesce(sum(count), 0) FROM usage_log")
        #expect(final == 6_000, "\(final) stored; \(log) in the log")
        #expect(server.stop() == 0)
    }
}

extension URL {
    /// Creates the file (empty) and returns the URL.
    func creatingFile() throws -> URL {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return self
    }
}

/// HTTP/1.1 over a plain socket, for what URLSession does not do: several requests written at
/// once on one connection (pipelining), their answers read back in order.
enum RawHTTP {
    struct Answer: CustomStringConvertible {
        var status: Int
        var headers: [String: String]
        var body: String
        var description: String { "\(status) \(body)" }
    }

    static func exchange(port: Int, _ text: String, answers count: Int) throws -> [Answer] {
        let connection = try Connection(port: port)
        try connection.send(text)
        return connection.receive(answers: count)
    }

    /// One keep-alive connection on loopback.
    final class Connection {
        let socket: Int32
        private var received: [UInt8] = []

        init(port: Int) throws {
            socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard socket >= 0 else { throw POSIXError(.EIO) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(socket)
                throw POSIXError(.ECONNREFUSED)
            }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(socket) }

        func send(_ text: String) throws {
            let bytes = Array(text.utf8)
            guard bytes.withUnsafeBytes({ Glibc.send(socket, $0.baseAddress, $0.count, 0) }) == bytes.count else { throw POSIXError(.EIO) }
        }

        /// Up to `count` answers: fewer when the server closes the connection (or is silent for
        /// 10 seconds) first.
        func receive(answers count: Int) -> [Answer] {
            var answers: [Answer] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while answers.count < count {
                if let (answer, used) = RawHTTP.parse(received) {
                    answers.append(answer)
                    received.removeFirst(used)
                    continue
                }
                let read = recv(socket, &buffer, buffer.count, 0)
                guard read > 0 else { break }
                received += buffer[0..<read]
            }
            return answers
        }
    }

    /// The first whole answer in `bytes` and how many bytes it took.
    static func parse(_ bytes: [UInt8]) -> (Answer, Int)? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else { return nil }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return (Answer(status: status, headers: headers, body: String(decoding: bytes[end + 4..<end + 4 + length], as: UTF8.self)), end + 4 + length)
    }
}
