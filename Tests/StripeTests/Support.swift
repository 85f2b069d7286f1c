import Foundation
import Logging
import TestSupport
import Testing
@testable import Stripe

/// A test key: the shape of a real one, owned by no account.
let testKey = "sk_test_51TollboothFakeKeyForTestsOnly0000wxyz"

/// The bytes of `Tests/Fixtures/stripe/<name>.json`, Stripe's example object.
func fixture(_ name: String) throws -> Data {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/stripe/\(name).json")
    return try Data(contentsOf: url)
}

/// A fixture as a JSON object, to wrap in a list or an event.
func fixtureText(_ name: String) throws -> String {
    String(decoding: try fixture(name), as: UTF8.self)
}

func json(_ text: String, status: Int = 200, headers: [String: String] = [:]) -> HTTPResponse {
    HTTPResponse(status: status, headers: headers, body: Data(text.utf8))
}

/// Stripe's error body.
func errorBody(type: String, message: String, code: String? = nil, declineCode: String? = nil, param: String? = nil) -> String {
    var fields = [#""type":"\#(type)""#, #""message":"\#(message)""#]
    if let code { fields.append(#""code":"\#(code)""#) }
    if let declineCode { fields.append(#""decline_code":"\#(declineCode)""#) }
    if let param { fields.append(#""param":"\#(param)""#) }
    return #"{"error":{\#(fields.joined(separator: ","))}}"#
}

/// Answers from a script, in order, and records every request; the last answer repeats.
final class FakeTransport: StripeTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var script: [Result<HTTPResponse, NetworkError>]
    private var sent: [HTTPRequest] = []

    init(_ script: [Result<HTTPResponse, NetworkError>]) {
        self.script = script
    }

    convenience init(_ responses: HTTPResponse...) {
        self.init(responses.map { .success($0) })
    }

    var requests: [HTTPRequest] {
        lock.lock()
        defer { lock.unlock() }
        return sent
    }

    func send(_ request: HTTPRequest) throws(NetworkError) -> HTTPResponse {
        lock.lock()
        sent.append(request)
        let next = script.count > 1 ? script.removeFirst() : script[0]
        lock.unlock()
        return try next.get()
    }
}

/// Virtual time: `sleep` records the wait and, unless frozen, moves the clock on by it.
final class VirtualClock: StripeClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Double = 1_000
    private var slept: [Double] = []
    let frozen: Bool

    init(frozen: Bool = false) {
        self.frozen = frozen
    }

    func now() -> Double {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func sleep(_ seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        guard seconds > 0 else { return }
        slept.append(seconds)
        if !frozen { current += seconds }
    }

    /// Every wait asked for, in order.
    var sleeps: [Double] {
        lock.lock()
        defer { lock.unlock() }
        return slept
    }

    /// Seconds since the clock was made.
    var elapsed: Double { now() - 1_000 }
}


/// Retries without real waiting: the jitter takes the whole cap, so waits are predictable.
func instantPolicy(maxAttempts: Int = 4, deadline: Double = 120) -> RetryPolicy {
    RetryPolicy(maxAttempts: maxAttempts, deadline: deadline, attemptTimeout: 30, initialDelay: 0.5, maxDelay: 8, jitter: { $0 })
}

func makeClient(_ transport: FakeTransport, clock: VirtualClock = VirtualClock(), policy: RetryPolicy = instantPolicy(),
                requestsPerSecond: Double = 1_000, endpointRequestsPerSecond: Double = 1_000,
                baseURL: String = StripeConfiguration.defaultBaseURL, logger: Logger? = nil) throws(StripeError) -> StripeClient {
    let configuration = try StripeConfiguration(apiKey: APIKey(testKey), baseURL: baseURL, requestsPerSecond: requestsPerSecond,
                                                endpointRequestsPerSecond: endpointRequestsPerSecond, retry: policy)
    return StripeClient(configuration: configuration, transport: transport, clock: clock,
                        logger: logger ?? Logger(label: "stripe-tests") { _ in SwiftLogNoOpLogHandler() })
}

/// The error `body` throws, or a recorded issue when it does not throw one.
func stripeError<T>(_ body: () throws(StripeError) -> T, sourceLocation: SourceLocation = #_sourceLocation) -> StripeError? {
    do {
        _ = try body()
        Issue.record("expected a StripeError", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// A form's fields as "name=value" lines, unencoded, for readable expectations.
func fieldList(_ form: Form) -> [String] {
    form.fields.map { "\($0.name)=\($0.value)" }
}

func encoded(_ value: some FormEncodable) -> Form {
    var form = Form()
    value.encode(into: &form)
    return form
}
