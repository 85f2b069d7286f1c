import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Stripe
import TestSupport
import Testing

/// A `stripe-sim` process on a free loopback port for one test, stopped (SIGTERM) when the test
/// drops it. Its rate limits are far above what a test sends unless the test gives its own
/// (a later flag wins).
final class Simulator: @unchecked Sendable {
    let process: Process
    let baseURL: String

    init(_ arguments: String...) throws {
        (process, baseURL, _) = try SimulatorLaunch.start(["--limits", "none"] + arguments)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    struct SimulatorError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// A client of this simulator over the real transport (libcurl). Pacing far above the
    /// simulator's limits unless a test is about pacing.
    func client(key: String = defaultKey, requestsPerSecond: Double = 1000, endpointRequestsPerSecond: Double = 1000,
                retry: RetryPolicy = RetryPolicy(), logger: Logger = quietLogger) throws -> StripeClient {
        let configuration = try StripeConfiguration(apiKey: try APIKey(key), baseURL: baseURL, requestsPerSecond: requestsPerSecond,
                                                    endpointRequestsPerSecond: endpointRequestsPerSecond, retry: retry)
        return StripeClient(configuration: configuration, transport: CurlTransport(), logger: logger)
    }

    /// Calls a control route (`/_sim/...`) with a JSON body (a query for GET); returns the answer.
    @discardableResult
    func control(_ method: String, _ path: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        try SimulatorControl.call(baseURL, method, path, body)
    }

    /// Registers a key: a restricted one gets exactly `permissions` (rak names).
    func register(key: String, permissions: [String] = []) throws {
        try control("POST", "keys", ["key": key, "permissions": permissions])
    }

    /// The next `count` API requests matching `method` and `path` (a prefix) fail as `kind`
    /// says: "500" (before the work, or after it with `after`), "429", "drop" (after the work).
    func fault(_ kind: String, method: String, path: String, count: Int = 1, after: Bool = false) throws {
        var body: [String: Any] = ["kind": kind, "method": method, "path": path, "count": count]
        if after { body["after"] = true }
        try control("POST", "faults", body)
    }

    /// The API requests the simulator served, oldest first.
    func requests(method: String? = nil, path: String? = nil) throws -> [LoggedRequest] {
        var query: [String: Any] = [:]
        if let method { query["method"] = method }
        if let path { query["path"] = path }
        let entries = try control("GET", "requests", query)["data"] as? [[String: Any]] ?? []
        return entries.map(LoggedRequest.init)
    }
}

/// One entry of `GET /_sim/requests`.
struct LoggedRequest {
    var method: String
    var path: String
    var idempotencyKey: String?
    /// 0 when the simulator cut the answer off.
    var status: Int
    var replayed: Bool
    var fault: String?

    init(_ entry: [String: Any]) {
        method = entry["method"] as? String ?? ""
        path = entry["path"] as? String ?? ""
        idempotencyKey = entry["idempotency_key"] as? String
        status = (entry["status"] as? NSNumber)?.intValue ?? -1
        replayed = entry["replayed"] as? Bool ?? false
        fault = entry["fault"] as? String
    }
}

/// Any `sk_test_` key reaches the simulator's default account.
let defaultKey = "sk_test_51TollboothIntegrationSuite0000k3y9"
let defaultAccount = "acct_1TbSimulator0000"

let quietLogger = Logger(label: "stripe-integration") { _ in SwiftLogNoOpLogHandler() }

/// The error a call threw, or a test failure when it did not throw.
func stripeError<T>(_ call: () throws(StripeError) -> T, sourceLocation: SourceLocation = #_sourceLocation) -> StripeError? {
    do {
        let value = try call()
        Issue.record("expected a StripeError, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}


/// Runs `work(thread)` on `threads` threads of their own at once (the client's calls block) and
/// waits for all of them.
func onThreads(_ threads: Int, _ work: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<threads {
        group.enter()
        let thread = Thread {
            work(index)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

/// Values collected from several threads.
final class Collected<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Value] = []

    func append(_ value: Value) { lock.withLock { stored.append(value) } }

    var values: [Value] { lock.withLock { stored } }
}

extension Simulator {
    /// A customer whose default payment method is the test card `token` (`pm_card_visa`, …),
    /// saved the way Tollbooth saves one: a setup Checkout Session, completed, then the card
    /// made the default.
    func customer(paying token: String, stripe: StripeClient, name: String) throws -> (customer: StripeCustomer, card: PaymentMethod) {
        let customer = try stripe.createCustomer(CustomerCreate(name: name, email: "\(name)@example.com"),
                                                 idempotencyKey: "customer-\(name)")
        let session = try stripe.createCheckoutSetupSession(
            CheckoutSetupSessionCreate(customer: customer.id, currency: .eur, successUrl: "https://tollbooth.example/done"),
            idempotencyKey: "checkout-\(name)")
        try control("POST", "checkout/sessions/\(session.id)/complete", ["payment_method": token])
        let card = try #require(try stripe.listPaymentMethods(customer: customer.id).data.first)
        let updated = try stripe.updateCustomer(customer.id, CustomerUpdate(defaultPaymentMethod: card.id),
                                                idempotencyKey: "customer-\(name)-default")
        return (updated, card)
    }
}

/// A loopback HTTP listener standing in for Tollbooth's webhook route: it keeps each request's
/// `Stripe-Signature` header and raw body, and answers 200.
final class WebhookReceiver: @unchecked Sendable {
    struct Delivery {
        var signature: String
        var body: Data
    }

    private let listener: Int32
    let port: UInt16
    private let lock = NSLock()
    private var received: [Delivery] = []
    private let stopped = DispatchSemaphore(value: 0)

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(listener, generic, length) == 0 && listen(listener, 16) == 0 && getsockname(listener, generic, &length) == 0
            }
        }
        guard bound else {
            close(listener)
            throw Simulator.SimulatorError(message: "the webhook receiver could not listen on 127.0.0.1")
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in serve() }.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        stopped.wait()
    }

    var url: String { "http://127.0.0.1:\(port)/stripe/webhooks" }

    var deliveries: [Delivery] { lock.withLock { received } }

    /// Waits up to `seconds` for `count` deliveries; returns what arrived.
    func wait(for count: Int, seconds: Double = 10) -> [Delivery] {
        let deadline = Date().addingTimeInterval(seconds)
        while deliveries.count < count, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return deliveries
    }

    private func serve() {
        defer { stopped.signal() }
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            if let delivery = read(connection) { lock.withLock { received.append(delivery) } }
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            _ = answer.withCString { send(connection, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            close(connection)
        }
    }

    /// One request: its headers up to the blank line, then `Content-Length` bytes of body.
    private func read(_ connection: Int32) -> Delivery? {
        var bytes = Data()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let separator = Data("\r\n\r\n".utf8)
        var headerEnd: Range<Data.Index>?
        var bodyLength = 0
        while true {
            if headerEnd == nil, let found = bytes.range(of: separator) {
                headerEnd = found
                let head = String(decoding: bytes[..<found.lowerBound], as: UTF8.self)
                for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    bodyLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let end = headerEnd, bytes.count - end.upperBound >= bodyLength { break }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            bytes.append(contentsOf: buffer[0..<count])
        }
        guard let end = headerEnd else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        let signature = head.components(separatedBy: "\r\n")
            .first { $0.lowercased().hasPrefix("stripe-signature:") }
            .map { String($0.dropFirst("stripe-signature:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        return Delivery(signature: signature, body: Data(bytes[end.upperBound..<(end.upperBound + bodyLength)]))
    }
}
