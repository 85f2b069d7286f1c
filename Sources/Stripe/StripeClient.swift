import Foundation
import Logging

/// A typed, blocking Stripe client, safe to share between threads: copies share one transport
/// (its pool of kept-alive connections) and one `Pacer`, so every concurrent call together stays
/// under `requestsPerSecond` and each endpoint under `endpointRequestsPerSecond`.
///
/// Every POST takes an idempotency key that the caller derives from its own ids, and a retry
/// sends it again, so a call that reached Stripe but whose answer was lost is never done twice.
/// Calls are retried as `RetryPolicy` says, within its deadline.
public struct StripeClient: Sendable {
    public let configuration: StripeConfiguration
    /// Each call logs with `stripe.method`, `stripe.path`, `stripe.attempt` and, once Stripe
    /// answered, `stripe.request_id`. Set metadata on a copy (`invoice.id`) to tag its calls.
    public var logger: Logger
    let transport: any StripeTransport
    let clock: any StripeClock
    let pacer: Pacer

    public init(configuration: StripeConfiguration, transport: any StripeTransport = CurlTransport(),
                clock: any StripeClock = SystemClock(), logger: Logger) {
        self.configuration = configuration
        self.transport = transport
        self.clock = clock
        self.logger = logger
        pacer = Pacer(globalRate: configuration.requestsPerSecond, endpointRate: configuration.endpointRequestsPerSecond, clock: clock)
    }

    /// Paces this client's calls (and its copies') at `1 / processes` of the account's limits:
    /// for one of several processes calling the same account at once (bill-run workers).
    public func shareLimits(among processes: Int) { pacer.share(among: processes) }

    /// Tests whether the key holds `permission` by making its harmless probe call (see
    /// `Permission.probe`). A 403 naming a permission is `.missing`; any other answer from
    /// Stripe is `.granted`; a key Stripe does not accept (401) and failures to get an answer
    /// throw.
    public func probe(_ permission: Permission, idempotencyKey: String) throws(StripeError) -> ProbeOutcome {
        let probe = permission.probe
        do {
            _ = try send(probe.method, probe.path, form: probe.form, idempotencyKey: probe.method == .post ? idempotencyKey : nil)
            return .granted
        } catch where error.kind == .api && error.status != 401 {
            return error.missingPermission != nil ? .missing(error) : .granted
        }
    }
}

// MARK: - Calls

extension StripeClient {
    /// `/v1/invoices/in_123/finalize` from its segments, each id percent-encoded so that no id
    /// can reach another path.
    static func path(_ base: String, _ segments: String...) -> String {
        ([base] + segments.map(Form.percentEncoded)).joined(separator: "/")
    }

    /// Sends a call and decodes its answer as `T`.
    func call<T: Decodable>(_ method: HTTPMethod, _ path: String, form: Form = Form(), idempotencyKey: String? = nil) throws(StripeError) -> T {
        let response = try send(method, path, form: form, idempotencyKey: idempotencyKey)
        return try StripeJSON.decode(T.self, from: response.body, call: "\(method.rawValue) \(path)",
                                     requestId: response.header("Request-Id"))
    }

    func post<T: Decodable>(_ path: String, _ params: some FormEncodable, idempotencyKey: String) throws(StripeError) -> T {
        var form = Form()
        params.encode(into: &form)
        return try call(.post, path, form: form, idempotencyKey: idempotencyKey)
    }

    func get<T: Decodable>(_ path: String, _ query: some FormEncodable) throws(StripeError) -> T {
        var form = Form()
        query.encode(into: &form)
        return try call(.get, path, form: form)
    }

    /// Every item of a list, page after page (`starting_after` the last item of each).
    func all<Query: PagedQuery, Item: StripeObject>(_ query: Query, _ fetch: (Query) throws(StripeError) -> StripeList<Item>) throws(StripeError) -> [Item] {
        var items: [Item] = []
        var query = query
        while true {
            let list = try fetch(query)
            items += list.data
            guard list.hasMore, let last = list.data.last else { return items }
            query.page.startingAfter = last.id
        }
    }

    /// Sends one call, pacing and retrying it, and returns Stripe's success answer.
    func send(_ method: HTTPMethod, _ path: String, form: Form, idempotencyKey: String?) throws(StripeError) -> HTTPResponse {
        let callName = "\(method.rawValue) \(path)"
        if method == .post || idempotencyKey != nil {
            try StripeClient.check(idempotencyKey: idempotencyKey, call: callName)
        }
        let request = makeRequest(method, path, form: form, idempotencyKey: idempotencyKey)
        let policy = configuration.retry
        let endpoint = Endpoint.name(method, path)
        let deadline = clock.now() + policy.deadline
        var log = logger
        log[metadataKey: "stripe.method"] = "\(method.rawValue)"
        log[metadataKey: "stripe.path"] = "\(Redact.secrets(in: path))"

        var attempt = 0
        var lastFailure: StripeError?
        while true {
            attempt += 1
            log[metadataKey: "stripe.attempt"] = "\(attempt)"
            guard let wait = pacer.reserve(endpoint, within: deadline - clock.now()) else {
                throw deadlineError(after: lastFailure, call: callName, attempts: attempt - 1)
            }
            clock.sleep(wait)

            var attemptRequest = request
            attemptRequest.timeout = min(policy.attemptTimeout, deadline - clock.now())
            let failure: StripeError
            do {
                let response = try transport.send(attemptRequest)
                if let id = response.header("Request-Id") { log[metadataKey: "stripe.request_id"] = "\(id)" }
                log.debug("Stripe answered \(response.status)")
                if (200..<300).contains(response.status) { return response }
                failure = StripeError(response: response, call: callName, attempts: attempt)
            } catch {
                log[metadataKey: "stripe.request_id"] = nil
                failure = StripeError(kind: .network(error.kind), message: error.detail, call: callName, attempts: attempt)
            }

            guard RetryPolicy.shouldRetry(failure), attempt < policy.maxAttempts else { throw failure }
            let delay = policy.delay(after: attempt)
            guard clock.now() + delay < deadline else { throw deadlineError(after: failure, call: callName, attempts: attempt) }
            log.notice("Stripe call failed; retrying in \(String(format: "%.2f", delay)) s: \(failure)")
            lastFailure = failure
            clock.sleep(delay)
        }
    }

    private func makeRequest(_ method: HTTPMethod, _ path: String, form: Form, idempotencyKey: String?) -> HTTPRequest {
        var url = configuration.baseURL + path
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(configuration.apiKey.revealed)"),
            ("Stripe-Version", StripeConfiguration.apiVersion),
            ("Accept", "application/json"),
            ("User-Agent", "Tollbooth"),
        ]
        var body: String?
        switch method {
        case .post:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            body = form.encoded
        case .get, .delete:
            if !form.fields.isEmpty { url += "?" + form.encoded }
        }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        return HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: configuration.retry.attemptTimeout)
    }

    /// Stripe takes keys of at most 255 characters; they go in a header, so only printable ASCII.
    static func check(idempotencyKey: String?, call: String) throws(StripeError) {
        guard let key = idempotencyKey, !key.isEmpty else {
            throw StripeError(invalidInput: "\(call) needs an idempotency key derived from Tollbooth's own ids")
        }
        guard key.count <= 255, key.unicodeScalars.allSatisfy({ (0x20...0x7E).contains($0.value) }) else {
            let shown = String(reflecting: String(key.prefix(40))) + (key.count > 40 ? "… (\(key.count) characters)" : "")
            throw StripeError(invalidInput: "the idempotency key for \(call) must be 1 to 255 printable ASCII characters, not \(shown)")
        }
    }

    private func deadlineError(after failure: StripeError?, call: String, attempts: Int) -> StripeError {
        guard let failure else {
            return StripeError(kind: .deadline, message: "its turn under stripe.requestsPerSecond or stripe.endpointRequestsPerSecond came after the deadline", call: call, attempts: attempts)
        }
        var last = failure
        last.attempts = 1  // the count belongs to the deadline's own message
        var error = failure
        error.kind = .deadline
        error.message = last.description
        error.attempts = attempts
        return error
    }
}

/// A Stripe object with an id, so that lists of it can be walked page by page.
public protocol StripeObject: Decodable, Sendable {
    var id: String { get }
}
