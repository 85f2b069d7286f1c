import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import Testing
import StripeSim

/// The built `stripe-sim` executable, run on `--port 0` for one test and stopped (SIGTERM) when
/// the test drops it.
final class SimulatorProcess: @unchecked Sendable {
    let process: Process
    let base: String
    let firstLines: [String]

    init(_ arguments: String...) throws {
        // Limits far above what a test sends, unless the test sets its own (a later flag wins).
        (process, base, firstLines) = try SimulatorLaunch.start(["--limits", "none"] + arguments,
                                                                lines: 2)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// One HTTP answer, its body read as JSON when it is JSON.
struct Reply: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var id: String { json["id"] as? String ?? "" }
    var data: [[String: Any]] { json["data"] as? [[String: Any]] ?? [] }

    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// The answer for a failure message, with secrets masked (a created webhook endpoint's
    /// `secret`, any key echoed back).
    var description: String {
        let text = String(decoding: body, as: UTF8.self)
        let masked = text.replacingOccurrences(of: #"(whsec_|sk_test_|sk_live_|rk_test_|rk_live_)[A-Za-z0-9]+"#,
                                               with: "$1***", options: .regularExpression)
        return "HTTP \(status): \(masked)"
    }
}

/// Raw HTTP to a simulator, as a client would send it.
struct Client: Sendable {
    let base: String
    var key: String? = "sk_test_simulatorTests0001"

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 15
        configuration.urlCache = nil
        return URLSession(configuration: configuration)
    }()

    func get(_ path: String, key: String? = nil) async throws -> Reply {
        try await send("GET", path, key: key)
    }

    func post(_ path: String, _ body: String = "", key: String? = nil, idempotencyKey: String? = nil,
              contentType: String = "application/x-www-form-urlencoded") async throws -> Reply {
        try await send("POST", path, body: body, key: key, idempotencyKey: idempotencyKey, contentType: contentType)
    }

    func delete(_ path: String) async throws -> Reply { try await send("DELETE", path) }

    func send(_ method: String, _ path: String, body: String = "", key: String? = nil, idempotencyKey: String? = nil,
              contentType: String = "application/x-www-form-urlencoded") async throws -> Reply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let key = key ?? self.key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        request.setValue("2026-07-29.dahlia", forHTTPHeaderField: "Stripe-Version")
        if let idempotencyKey { request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key") }
        if method != "GET" {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
        }
        let (data, response) = try await Client.session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers["\(name)"] = "\(value)" }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    /// Control routes take no key.
    func control(_ method: String, _ path: String, json: String = "") async throws -> Reply {
        var client = self
        client.key = nil
        return try await client.send(method, path, body: json, contentType: "application/json")
    }

    // Helpers for the objects most tests need.

    func customer(_ extra: String = "") async throws -> String {
        let reply = try await post("/v1/customers", "email=c%40example.com&name=Test" + (extra.isEmpty ? "" : "&" + extra))
        #expect(reply.status == 200, "\(reply)")
        return reply.id
    }

    /// A draft invoice of `amounts` as invoice items.
    func draftInvoice(customer: String, amounts: [Int], currency: String = "usd", autoAdvance: Bool = false) async throws -> String {
        let invoice = try await post("/v1/invoices", "customer=\(customer)&currency=\(currency)&auto_advance=\(autoAdvance)")
        #expect(invoice.status == 200, "\(invoice)")
        for (index, amount) in amounts.enumerated() {
            let item = try await post("/v1/invoiceitems",
                                      "customer=\(customer)&invoice=\(invoice.id)&amount=\(amount)&currency=\(currency)&description=line+\(index)&metadata[tollbooth_line]=l\(index)")
            #expect(item.status == 200, "\(item)")
        }
        return invoice.id
    }
}

/// Waits up to `seconds` for `condition`, checking every 20 ms.
func eventually(within seconds: Double = 5, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try await condition()
}

/// One of Stripe's example objects (Tests/StripeSimTests/Fixtures).
func fixtureObject(_ name: String) throws -> [String: Any] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name).json")
    return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
}

/// A fixture object's field names.
func fixtureKeys(_ name: String) throws -> Set<String> { Set(try fixtureObject(name).keys) }

/// A loopback HTTP listener standing in for a webhook endpoint: it records every request and
/// answers with the next status of `statuses` (200 once they run out).
final class WebhookListener: @unchecked Sendable {
    private let lock = NSLock()
    private var received: [HTTPRequest] = []
    private var statuses: [Int]
    private var server: HTTPServer!

    init(statuses: [Int] = []) throws {
        self.statuses = statuses
        server = try HTTPServer(port: 0) { [unowned self] request in
            let status: Int = lock.withLock {
                self.received.append(request)
                return self.statuses.isEmpty ? 200 : self.statuses.removeFirst()
            }
            return .response(HTTPResponse(status: status, body: Array("ok".utf8)))
        }
        server.start()
    }

    deinit { server.stop() }

    var url: String { "http://127.0.0.1:\(server.port)/webhooks" }

    var requests: [HTTPRequest] { lock.withLock { received } }
}
