import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Two `tollbooth serve` processes on one PostgreSQL database, a client alternating between
/// them: the hard quota holds across both, an event sent to both is counted once, and what one
/// stores the other's checks count within a second.
@Suite(.serialized) struct ServeScaleOutTests {
    typealias Served = ServeTests.Served

    /// Requests sent at once, each to its server; the answers' statuses and bodies in order.
    func concurrently(_ requests: [(server: Served, request: URLRequest)]) throws -> [(status: Int, body: [String: Any])] {
        let configuration = URLSessionConfiguration.default
        configuration.httpMaximumConnectionsPerHost = requests.count
        let session = URLSession(configuration: configuration)
        final class Answers: @unchecked Sendable {
            let lock = NSLock()
            var values: [Int: (status: Int, body: [String: Any])] = [:]
        }
        let answers = Answers(), group = DispatchGroup()
        for (index, sent) in requests.enumerated() {
            group.enter()
            session.dataTask(with: sent.request) { data, response, _ in
                let body = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
                answers.lock.withLock { answers.values[index] = ((response as? HTTPURLResponse)?.statusCode ?? 0, body) }
                group.leave()
            }.resume()
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        return answers.lock.withLock { (0..<requests.count).map { answers.values[$0] ?? (0, [:]) } }
    }

    func request(_ server: Served, _ path: String, token: String, body: Data, type: String = "application/json") -> URLRequest {
        var request = URLRequest(url: URL(string: server.base + path)!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(type, forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        return request
    }

    @Test func aHardQuotaIsExactAcrossTwoServers() throws {
        let fixture = ServeTests()
        let (cli, _, check, _, key, _) = try fixture.setUp(.postgres)
        // 9,900 of Starter's 10,000 requests used already, ingested from a file.
        let events = (0..<9_900).map { #"{"specversion":"1.0","id":"f\#($0)","source":"gateway","type":"api.request","subject":"acme_prod","time":"2026-12-05T10:00:00Z","data":{}}"# }
        #expect(try cli.run("meter", "ingest", try cli.write("used.ndjson", events.joined(separator: "\n")), "--at", "2026-12-06T00:00:00Z").status == 0)
        let servers = [try Served(cli), try Served(cli)]
        // A first check on each: both have counted the 9,900 in memory before the rush.
        for server in servers {
            let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
            #expect(answer.status == 200 && (answer.body["usage"] as? NSNumber)?.intValue == 9_900, "\(answer)")
        }
        // One consuming check sent to both servers (the same idempotency key) is counted once.
        for server in servers {
            let once = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests", "consume": true, "idempotencyKey": "once"])
            #expect(once.status == 200, "\(once)")
        }
        // 200 consuming checks at once, alternating between the servers, each for one request.
        let answers = try concurrently(try (0..<200).map { index in
            let server = servers[index % 2]
            let body = try JSONSerialization.data(withJSONObject: ["apiKey": key, "feature": "api_requests", "consume": true, "idempotencyKey": "c\(index)"])
            return (server, request(server, "/v1/check", token: check, body: body))
        })
        // Exactly the 99 left are allowed, whichever server answered; the other 101 are denied.
        #expect(answers.filter { $0.status == 200 }.count == 99, "\(answers.map(\.status))")
        #expect(answers.filter { $0.status == 403 }.count == 101)
        // Each allowed answer's usage is a distinct step from 9,902 to 10,000.
        let steps = Set(answers.filter { $0.status == 200 }.compactMap { ($0.body["usage"] as? NSNumber)?.intValue })
        #expect(steps == Set(9_902...10_000), "\(steps.sorted())")
        for (index, answer) in answers.enumerated() where answer.status == 403 {
            #expect((answer.body["detail"] as? String)?.hasPrefix("quota exhausted: 10,000 of 10,000 api_requests used") == true, "check \(index): \(answer.body)")
        }
        for server in servers {
            #expect(try fixture.eventually(2) {
                let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
                return answer.status == 403 && (answer.body["detail"] as? String)?.hasPrefix("quota exhausted: 10,000 of 10,000") == true
            })
        }
        for server in servers { #expect(server.stop() == 0) }
        // Every allowed check was stored once: 9,900 + 1 + 99 events bill 10,000 requests.
        #expect(try cli.run("run", "--at", "2027-01-01T02:00:00Z").status == 0)
        let show = try cli.run("invoices", "show", "inv_acme_20270101", "--format", "json")
        #expect(show.stdout.contains("\"quantity\": \"10000\""), "\(show)")
    }

    @Test func anEventSentToBothServersIsCountedOnce() throws {
        let fixture = ServeTests()
        let (cli, _, check, ingest, key, _) = try fixture.setUp(.postgres)
        let servers = [try Served(cli), try Served(cli)]
        var accepted = 0, duplicates = 0
        // 20 batches of 100 events, each sent to both servers at the same moment.
        for round in 0..<20 {
            let body = try JSONSerialization.data(withJSONObject: (0..<100).map { fixture.event("r\(round)-\($0)") })
            let answers = try concurrently(servers.map { ($0, request($0, "/v1/events", token: ingest, body: body, type: "application/cloudevents-batch+json")) })
            for answer in answers {
                #expect(answer.status == 202, "\(answer)")
                accepted += answer.body["accepted"] as? Int ?? 0
                duplicates += answer.body["duplicate"] as? Int ?? 0
            }
        }
        #expect(accepted == 2_000 && duplicates == 2_000, "accepted \(accepted), duplicates \(duplicates)")
        // Sent again, alternating: every one a duplicate on either server.
        for round in 0..<20 {
            let body = try JSONSerialization.data(withJSONObject: (0..<100).map { fixture.event("r\(round)-\($0)") })
            let answer = try servers[round % 2].call("POST", "/v1/events", token: ingest, body: body, headers: ["Content-Type": "application/cloudevents-batch+json"])
            #expect(answer.status == 202 && answer.body["duplicate"] as? Int == 100, "round \(round): \(answer.body)")
        }
        // Both servers' checks count the 2,000 requests within a second of the last commit.
        for server in servers {
            #expect(try fixture.eventually(1) {
                let answer = try server.call("POST", "/v1/check", token: check, json: ["apiKey": key, "feature": "api_requests"])
                return (answer.body["usage"] as? NSNumber)?.intValue == 2_000
            })
        }
        for server in servers { #expect(server.stop() == 0) }
        #expect(try cli.run("run", "--at", "2027-01-01T02:00:00Z").status == 0)
        let show = try cli.run("invoices", "show", "inv_acme_20270101", "--format", "json")
        #expect(show.stdout.contains("\"quantity\": \"2000\""), "\(show)")
    }
}
