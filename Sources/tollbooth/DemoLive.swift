import Billing
import Foundation
import Pipeline
import Server
import Store
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The demo's live part: `tollbooth serve` started on a free loopback port over the demo's
/// database, with its clock at Nov 15, a key for one Starter customer (quota 50,000 requests a
/// month, hard), usage sent over HTTP as the gateway would, then consuming checks until the
/// quota answers 403.
enum DemoLive {
    static let start = Instant(year: 2026, month: 11, day: 15) + 12 * 3600

    /// Runs it and returns what happened, a line each.
    static func run(databasePath: String, store: Store, avoiding: Set<String>) throws -> [String] {
        let starters = DemoData.customers.enumerated().filter { DemoData.plan(for: $0.offset) == "starter" }.map(\.element.key)
        guard let customer = starters.first(where: { !avoiding.contains($0) }) else { return [] }
        let token = Credentials.newToken(scope: .admin, name: "demo")
        try store.insertToken(id: token.id, name: "demo", scope: .admin, digest: token.digest, last4: token.last4, at: start)
        let key = Credentials.newAPIKey(production: false)
        try store.insertAPIKey(id: key.id, customerKey: customer, digest: key.digest, last4: key.last4, at: start)

        let server = try ServeProcess(databasePath: databasePath, at: start)
        defer { server.stop() }
        var lines = ["live: `tollbooth serve` on \(server.base), its clock at \(start.rfc3339); API key ...\(key.last4) (\(key.id)) for \(customer)"]

        // 49,950 requests reported in 50 batches of 999 events (subject: the key's id).
        var accepted = 0
        for batch in 0..<50 {
            let events = (0..<999).map { index in
                #"{"specversion":"1.0","id":"demo-\#(batch)-\#(index)","source":"gateway","type":"api.request","subject":"\#(key.id)","time":"\#(start.rfc3339)","data":{}}"#
            }
            let answer = try server.call("/v1/events", token: token.secret, contentType: "application/cloudevents-batch+json",
                                         body: Data(("[" + events.joined(separator: ",") + "]").utf8))
            guard answer.status == 202 else { throw CommandFailure("the demo's server answered \(answer.status) to events: \(answer.body)") }
            accepted += answer.body["accepted"] as? Int ?? 0
        }
        lines.append("live: POST /v1/events: \(accepted) events accepted in 50 batches, each answered once committed")

        // Each gateway request asks and consumes one unit, until the hard quota says no.
        var allowed = 0
        var denial = ""
        for index in 0..<1_000 {
            let body = try JSONSerialization.data(withJSONObject: ["apiKey": key.secret, "feature": "api_requests", "consume": true,
                                                                   "idempotencyKey": "demo-check-\(index)"])
            let answer = try server.call("/v1/check", token: token.secret, contentType: "application/json", body: body)
            if answer.status == 200 {
                allowed += 1
            } else {
                denial = "\(answer.status) \(answer.body["detail"] as? String ?? "")"
                break
            }
        }
        lines.append("live: POST /v1/check with consume: \(allowed) allowed, then \(denial)")
        return lines
    }
}

/// `tollbooth serve` as a child process of this one, on a free loopback port.
final class ServeProcess {
    let process = Process()
    let base: String
    let session = URLSession(configuration: .ephemeral)

    init(databasePath: String, at start: Instant) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--db", databasePath, "--at", start.rfc3339, "serve", "--listen", "127.0.0.1:0"]
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLBOOTH_LOG_LEVEL"] = "warning"
        process.environment = environment
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var text = ""
        while !text.contains("\n"), process.isRunning {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("listening on ") else {
            throw CommandFailure("the demo could not start `tollbooth serve`")
        }
        base = String(line.dropFirst("listening on ".count))
    }

    func call(_ path: String, token: String, contentType: String, body: Data) throws -> (status: Int, body: [String: Any]) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        final class Box: @unchecked Sendable { var result: (Data?, URLResponse?)? }
        let box = Box(), done = DispatchSemaphore(value: 0)
        session.dataTask(with: request) { data, response, _ in
            box.result = (data, response)
            done.signal()
        }.resume()
        done.wait()
        let status = (box.result?.1 as? HTTPURLResponse)?.statusCode ?? 0
        let object = box.result?.0.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        return (status, object)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
