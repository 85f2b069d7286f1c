import Billing
import Foundation
import Logging
import Pipeline
import Showcase
import Server
import Store
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The demo's live part, the model product's whole story over HTTP, in a database of its own
/// beside the batch demo's (`live.db`), on the real clock: `tollbooth serve` on a free loopback
/// port connects Stripe through its set-up API; a customer subscribes to Starter through the
/// server, saves a card in the simulator's Checkout and gets its API key from the webhook; the
/// gateway's events and consuming checks run into the hard quota's 403; an upgrade to Pro lifts
/// it at once; the period-end bill run charges the card and the payment reaches the server by
/// webhook. A second customer's card declines: the server records the failure at the event's
/// time, allows access through the grace period, and refuses it once the grace has passed (the
/// server started again with its clock four days on).
struct DemoLive {
    let folder: URL
    let simulator: DemoSimulator
    let stripe: Demo.StripeSide

    /// The simulator's test key, given to the server's set-up API as an operator would.
    static let stripeKey = "sk_test_tollboothDemo00000000"

    /// Runs it and returns what happened, a line each.
    func run() throws -> [String] {
        let databasePath = folder.appendingPathComponent("live.db").path
        let configPath = folder.appendingPathComponent("live.json").path
        let settings = ["stripe": ["apiBase": simulator.baseURL, "requestsPerSecond": 1000, "endpointRequestsPerSecond": 1000]]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: configPath))
        let store = try SQLiteStore(path: databasePath)
        let opened = Instant(seconds: Int64(Date().timeIntervalSince1970))
        _ = try store.importCatalog(try CatalogReader.read(Data(DemoData.catalogJSON.utf8)), at: opened)
        let customers = Array(DemoData.customers.prefix(2))
        _ = try store.importCustomers(customers, at: opened)
        let token = Credentials.newToken(scope: .admin, name: "demo")
        try store.insertToken(id: token.id, name: "demo", scope: .admin, digest: token.digest, last4: token.last4, at: opened)

        var lines: [String] = []
        var server = try ServeProcess(databasePath: databasePath, config: configPath)
        defer { server.stop() }
        let connected = try server.send("POST", "/setup/stripe", token: token.secret, json: ["apiKey": DemoLive.stripeKey, "name": "Tollbooth demo"])
        guard connected.status == 200 else { throw CommandFailure("the demo's server could not connect Stripe: \(connected.body)") }
        let endpoint = (connected.body["webhookEndpoint"] as? [String: Any])?["url"] as? String ?? ""
        lines.append("live: `tollbooth serve` on \(server.base) over \(databasePath); POST /setup/stripe connected \(connected.body["account"] ?? "") "
                     + "(key \(connected.body["key"] ?? "")), webhooks to \(endpoint)")

        // 1. Subscribing through the server and Checkout; the key comes with the webhook.
        let payer = customers[0].key
        let (subscription, apiKey, start) = try subscribe(server, token: token.secret, customer: payer, card: "pm_card_visa", lines: &lines)

        // 2. The gateway: 49,950 requests reported in 50 batches, then consuming checks until
        // the hard quota (50,000 a month) answers 403.
        var accepted = 0
        for batch in 0..<50 {
            let events = (0..<999).map { index in
                #"{"specversion":"1.0","id":"demo-\#(batch)-\#(index)","source":"gateway","type":"api.request","subject":"\#(apiKey.id)","time":"\#(start.rfc3339)","data":{}}"#
            }
            let answer = try server.call("/v1/events", token: token.secret, contentType: "application/cloudevents-batch+json",
                                         body: Data(("[" + events.joined(separator: ",") + "]").utf8))
            guard answer.status == 202 else { throw CommandFailure("the demo's server answered \(answer.status) to events: \(answer.body)") }
            accepted += answer.body["accepted"] as? Int ?? 0
        }
        lines.append("live: POST /v1/events: \(accepted) events accepted in 50 batches, each answered once committed")
        var allowed = 0
        var denial = ""
        for index in 0..<1_000 {
            let answer = try check(server, token: token.secret, apiKey: apiKey.secret, idempotencyKey: "demo-check-\(index)")
            if answer.status == 200 {
                allowed += 1
            } else {
                denial = "\(answer.status) \(answer.body["detail"] as? String ?? "")"
                break
            }
        }
        lines.append("live: POST /v1/check with consume: \(allowed) allowed, then \(denial)")

        // 3. An upgrade to Pro (immediate; its quota is soft) lifts the limit at once.
        let upgraded = try server.send("POST", "/v1/subscriptions/\(subscription)/change", token: token.secret, json: ["plan": "pro"])
        guard upgraded.status == 200, let successor = upgraded.body["id"] as? String else {
            throw CommandFailure("the demo's upgrade was refused: \(upgraded.body)")
        }
        let afterUpgrade = try check(server, token: token.secret, apiKey: apiKey.secret, idempotencyKey: "demo-check-upgraded")
        lines.append("live: POST /v1/subscriptions/\(subscription)/change to Pro: \(successor) in service at once; the next check is \(afterUpgrade.status) "
                     + "(Pro's usage period starts at the change: \(afterUpgrade.body["usage"] ?? "") of a soft \(afterUpgrade.body["limit"] ?? ""))")

        // 4. The period-end bill run charges the saved card; Stripe's invoice.paid reaches the server.
        let periodEnd = try Instant.month(after: start)
        let summary = try billRun(store, asOf: periodEnd + 2 * 3600)
        let invoices = try store.invoices().filter { $0.customerKey == payer }
        let billed = invoices.map { "\($0.id) \(Money($0.total, $0.currency).formatted) \($0.status.rawValue)" }.joined(separator: ", ")
        lines.append("live: bill run as of \((periodEnd + 2 * 3600).rfc3339): \(summary); \(payer): \(billed)")
        let paidEvents = try waitFor { try store.stripeEvents().filter { $0.type == "invoice.paid" && $0.appliedAt != nil }.count >= invoices.filter { $0.status == .paid }.count }
        lines.append("live: Stripe's invoice.paid reached POST /v1/stripe/webhook \(paidEvents ? "for each paid invoice" : "late (the run's collect stage read the payments)")")

        // 5. A card that declines: access through the grace period, refused after it.
        let decliner = customers[1].key
        let (_, declinedKey, declinedStart) = try subscribe(server, token: token.secret, customer: decliner, card: Demo.declinedCard, lines: &lines)
        _ = try billRun(store, asOf: declinedStart + 2 * 3600)
        var failedAt: Instant?
        _ = try waitFor {
            failedAt = try store.invoices().first { $0.customerKey == decliner && $0.status == .paymentFailed }?.payment.paymentFailedAt
            let applied = try store.stripeEvents().contains { $0.type == "invoice.payment_failed" && $0.appliedAt != nil }
            return failedAt != nil && applied
        }
        guard let failedAt else { throw CommandFailure("the demo's declined payment did not come back from Stripe") }
        let during = try check(server, token: token.secret, apiKey: declinedKey.secret, idempotencyKey: "demo-declined-1")
        lines.append("live: \(decliner)'s card declined: invoice.payment_failed reached the server, failure at \(failedAt.rfc3339); "
                     + "within the grace (3 days) the check is \(during.status)")
        server.stop()
        let later = failedAt + 4 * 86_400
        server = try ServeProcess(databasePath: databasePath, config: configPath, at: later)
        let after = try check(server, token: token.secret, apiKey: declinedKey.secret, idempotencyKey: "demo-declined-2")
        lines.append("live: four days later (serve's clock at \(later.rfc3339)): \(after.status) \(after.body["detail"] as? String ?? "")")
        return lines
    }

    /// Subscribes `customer` to Starter through the server, completes Checkout in the
    /// simulator with `card`, and waits for the webhook to start it; returns the subscription,
    /// the API key shown once and the start.
    func subscribe(_ server: ServeProcess, token: String, customer: String, card: String, lines: inout [String]) throws
        -> (id: String, key: (id: String, secret: String), start: Instant) {
        let created = try server.send("POST", "/v1/subscriptions", token: token, json: ["customer": customer, "plan": "starter"])
        guard created.status == 201, let id = created.body["id"] as? String, let url = created.body["checkoutUrl"] as? String,
              let session = url.split(separator: "/").last.map(String.init) else {
            throw CommandFailure("the demo's subscription for \(customer) was refused: \(created.body)")
        }
        try stripe.completeCheckout(session, card)
        var answer: [String: Any] = [:]
        guard try waitFor({
            answer = try server.send("GET", "/v1/subscriptions/\(id)", token: token).body
            return answer["status"] as? String == "active"
        }), let key = answer["apiKey"] as? [String: Any], let keyId = key["id"] as? String, let secret = key["key"] as? String,
            let start = (answer["start"] as? String).flatMap(Instant.init(rfc3339:)) else {
            throw CommandFailure("the demo's subscription \(id) did not start: \(answer)")
        }
        lines.append("live: POST /v1/subscriptions for \(customer) on Starter: pending_payment until Checkout; \(card) saved in Checkout, "
                     + "checkout.session.completed reached the server: \(id) active from \(start.rfc3339), API key ...\(secret.suffix(4)) (\(keyId)) shown once")
        return (id, (keyId, secret), start)
    }

    func check(_ server: ServeProcess, token: String, apiKey: String, idempotencyKey: String) throws -> (status: Int, body: [String: Any]) {
        try server.send("POST", "/v1/check", token: token, json: ["apiKey": apiKey, "feature": "api_requests", "consume": true,
                                                                 "idempotencyKey": idempotencyKey])
    }

    /// The bill run with the demo's Stripe, as cron would start it; its stages' counts in words.
    func billRun(_ store: any Store, asOf: Instant) throws -> String {
        let run = BillRun(store: store, stripe: stripe.connection, logger: Logger(label: "tollbooth.demo", factory: { _ in SwiftLogNoOpLogHandler() }))
        let summary = try run.run(asOf: asOf, now: asOf)
        return summary.stages.filter { [.rate, .issue, .collect].contains($0.stage) }.map { "\($0.stage.rawValue): \($0.message)" }.joined(separator: "; ")
    }

    /// Polls `condition` for up to ten seconds.
    func waitFor(_ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        repeat {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return try condition()
    }
}

extension Instant {
    /// One calendar month after `start` (the demo's monthly billing period), in UTC.
    static func month(after start: Instant) throws -> Instant {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(byAdding: .month, value: 1, to: Date(timeIntervalSince1970: TimeInterval(start.seconds))) else {
            throw CommandFailure("no month after \(start.rfc3339)")
        }
        return Instant(seconds: Int64(date.timeIntervalSince1970))
    }
}

/// `tollbooth serve` as a child process of this one, on a free loopback port.
final class ServeProcess {
    let process = Process()
    let base: String

    /// `at` fixes the server's clock (none: the real one).
    init(databasePath: String, config: String, at start: Instant? = nil) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["--db", databasePath, "--config", config] + (start.map { ["--at", $0.rfc3339] } ?? [])
            + ["serve", "--listen", "127.0.0.1:0"]
        var environment = ProcessInfo.processInfo.environment
        environment["TOLLBOOTH_LOG_LEVEL"] = "warning"
        process.environment = environment
        let lines = try Loopback.start(process, output: output, lines: 1)
        guard let line = lines.first, line.hasPrefix("listening on ") else {
            throw CommandFailure("the demo could not start `tollbooth serve`")
        }
        base = String(line.dropFirst("listening on ".count))
    }

    /// A JSON request (none for a GET).
    func send(_ method: String, _ path: String, token: String, json: [String: Any]? = nil) throws -> (status: Int, body: [String: Any]) {
        try call(path, method: method, token: token, contentType: "application/json",
                 body: try json.map { try JSONSerialization.data(withJSONObject: $0) })
    }

    func call(_ path: String, method: String = "POST", token: String, contentType: String, body: Data?) throws -> (status: Int, body: [String: Any]) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (status, data) = Loopback.send(request)
        let object = data.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        return (status, object)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// One request to a server of the demo on loopback, waited for: its status (0 when none came)
/// and body.
enum Loopback {
    static let session = URLSession(configuration: .ephemeral)

    /// Runs `process` (a server of the demo), its stdout into `output` and its stderr into
    /// ours, and returns the first `count` lines it prints (fewer if it stops first).
    static func start(_ process: Process, output: Pipe, lines count: Int) throws -> [Substring] {
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        var text = ""
        while text.utf8.count(where: { $0 == UInt8(ascii: "\n") }) < count, process.isRunning {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        return Array(text.split(separator: "\n").prefix(count))
    }

    static func send(_ request: URLRequest) -> (status: Int, body: Data?) {
        final class Box: @unchecked Sendable { var result: (Data?, URLResponse?)? }
        let box = Box(), done = DispatchSemaphore(value: 0)
        session.dataTask(with: request) { data, response, _ in
            box.result = (data, response)
            done.signal()
        }.resume()
        done.wait()
        return ((box.result?.1 as? HTTPURLResponse)?.statusCode ?? 0, box.result?.0)
    }
}
