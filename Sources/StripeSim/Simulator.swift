import Foundation

/// How a simulator is set up (the command line's flags).
public struct SimulatorConfiguration: Sendable {
    /// The account every `sk_test_` (or, live, `sk_live_`) key reaches.
    public var defaultAccount: String
    /// Live mode: `sk_live_` keys work and test keys are refused.
    public var live: Bool
    /// Requests a second an account may make in all, reads and writes together (nil: no limit).
    public var globalPerSecond: Int?
    /// Requests a second an account may make to any one endpoint (nil: no limit).
    public var endpointPerSecond: Int?
    /// Waits before each retry of a failed webhook delivery, in seconds.
    public var webhookRetryDelays: [Double]

    public static let defaultAccountId = "acct_1TbSimulator0000"

    public init(defaultAccount: String = SimulatorConfiguration.defaultAccountId, live: Bool = false,
                limits: RateLimits = .sandbox, webhookRetryDelays: [Double] = [0.2, 0.5, 1, 2]) {
        self.defaultAccount = defaultAccount
        self.live = live
        globalPerSecond = limits.globalPerSecond
        endpointPerSecond = limits.endpointPerSecond
        self.webhookRetryDelays = webhookRetryDelays
    }
}

/// Stripe's rate limits as of 2026: a global limit per account (25 requests a second in a
/// sandbox, 100 in live mode) and 25 a second for each endpoint in both.
public enum RateLimits: String, Sendable, CaseIterable {
    case sandbox
    case live
    case none

    public var globalPerSecond: Int? {
        switch self {
        case .sandbox: return 25
        case .live: return 100
        case .none: return nil
        }
    }

    public var endpointPerSecond: Int? {
        switch self {
        case .sandbox, .live: return 25
        case .none: return nil
        }
    }
}

/// The simulator's clock: wall time for object timestamps (shifted by `POST /_sim/clock`) and a
/// monotonic time for the rate limit.
public struct SimulatorClock: Sendable {
    public var wall: @Sendable () -> Double
    public var monotonic: @Sendable () -> Double

    public init(wall: @escaping @Sendable () -> Double, monotonic: @escaping @Sendable () -> Double) {
        self.wall = wall
        self.monotonic = monotonic
    }

    public static let system = SimulatorClock(wall: { Date().timeIntervalSince1970 },
                                              monotonic: { ProcessInfo.processInfo.systemUptime })
}

/// The Stripe simulator: state in memory, one lock around it, `handle` serving every request.
public final class Simulator: @unchecked Sendable {
    public static let apiVersion = "2026-07-29.dahlia"

    public let configuration: SimulatorConfiguration
    let clock: SimulatorClock
    let deliverer: WebhookDeliverer
    /// The address links to hosted pages point at; set once the server is bound.
    public var publicBase: String {
        get { lock.withLock { base } }
        set { lock.withLock { base = newValue } }
    }

    private let lock = NSLock()
    var base = "http://127.0.0.1"
    var state: SimState

    public init(configuration: SimulatorConfiguration = SimulatorConfiguration(), clock: SimulatorClock = .system) {
        self.configuration = configuration
        self.clock = clock
        deliverer = WebhookDeliverer(retryDelays: configuration.webhookRetryDelays, clock: clock)
        state = SimState(configuration: configuration, now: Int64(clock.wall()))
    }

    /// Serves one HTTP request: control routes under `/_sim/`, the API under `/v1/`.
    public func handle(_ request: HTTPRequest) -> HTTPReply {
        if request.path.hasPrefix("/_sim/") {
            return .response(lock.withLock { control(request) })
        }
        let fault = lock.withLock { state.takeFault(method: request.method, path: request.path) }
        if case let .delay(milliseconds)? = fault?.kind {
            usleep(UInt32(min(milliseconds, 60_000)) * 1000)
        }
        return lock.withLock { serveAPI(request, fault: fault) }
    }

    /// One API call, in stages that each may answer: a fault that fails before the work, the
    /// key, the route, the rate limit, the key's permission, an Idempotency-Key replay, the
    /// parameters, then the handler, and a fault that fails after it.
    private func serveAPI(_ request: HTTPRequest, fault: Fault?) -> HTTPReply {
        let requestId = Identifiers.make("req_", 14)
        let idempotencyKey = request.method == "POST" ? request.header("idempotency-key") : nil
        var log = RequestLogEntry(requestId: requestId, method: request.method, path: request.path,
                                  idempotencyKey: idempotencyKey, status: 0, account: nil, replayed: false, fault: fault?.kind.name)
        defer { state.requestLog.append(log) }
        var headers: [(name: String, value: String)] = [("Request-Id", requestId)]
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }

        func answer(_ status: Int, _ body: JSON, extra: [(name: String, value: String)] = []) -> HTTPReply {
            log.status = status
            return .response(HTTPResponse(status: status, headers: jsonHeaders + headers + extra, body: body.bytes))
        }
        func fail(_ error: APIError) -> HTTPReply {
            answer(error.status, error.body(requestId: requestId), extra: error.headers.map { (name: $0.key, value: $0.value) })
        }

        switch fault?.kind {
        case .serverError(after: false)?:
            var error = APIError.api("An error occurred with our connection to Stripe. (simulated fault)")
            error.headers = ["Stripe-Should-Retry": "true"]
            return fail(error)
        case .rateLimit?:
            return fail(.rateLimited)
        case .serverError(after: true)?, .drop?, .delay?, nil:
            break
        }

        let credential: Credential
        switch authenticate(request) {
        case let .success(found): credential = found
        case let .failure(error): return fail(error)
        }
        log.account = credential.account

        guard let (route, arguments) = Router.match(method: request.method, path: request.path) else {
            return fail(.unrecognizedURL(request.method, request.path))
        }
        let now = currentTime
        guard state.admit(account: credential.account, endpoint: route.operation, at: clock.monotonic(),
                          configuration: configuration) else {
            return fail(.rateLimited)
        }
        if let permissions = credential.permissions, !route.permission.isGranted(by: permissions) {
            return fail(.invalidRequest(
                "The provided key '\(credential.key.masked)' does not have the required permissions for this endpoint on account '\(credential.account)'. Having the '\(route.permission.stripeName)' permission would allow this request to continue.",
                status: 403))
        }

        if let idempotencyKey {
            guard idempotencyKey.count <= 255 else {
                return fail(.invalidRequest("Invalid Idempotency-Key: keys can be at most 255 characters long; this one has \(idempotencyKey.count).",
                                            param: "Idempotency-Key"))
            }
            if let stored = state.accounts[credential.account]?.idempotency[idempotencyKey],
               now - stored.created < 86_400 {
                guard stored.method == request.method, stored.path == request.path, stored.body == request.body else {
                    return fail(APIError(status: 400, type: "idempotency_error",
                                         message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '\(idempotencyKey)' if you meant to execute a different request."))
                }
                log.replayed = true
                log.status = stored.status
                let replayHeaders = jsonHeaders + headers + [("Idempotent-Replayed", "true"), ("Original-Request", stored.requestId)]
                return .response(HTTPResponse(status: stored.status, headers: replayHeaders, body: stored.response))
            }
        }

        let params: Params
        do {
            params = try decodeParams(request, operation: route.operation)
        } catch {
            return fail(error)
        }
        let context = RequestContext(requestId: requestId, idempotencyKey: idempotencyKey, now: now, params: params,
                                     arguments: arguments, taxRules: state.taxRules, publicBase: base)
        let (status, bytes) = run(route, context, account: credential.account, storing: request)

        switch fault?.kind {
        case .drop?:
            log.status = 0
            return .truncated(HTTPResponse(status: status, headers: jsonHeaders + headers, body: bytes))
        case .serverError(after: true)?:
            var error = APIError.api("An error occurred while processing your request. (simulated fault after the work was stored)")
            error.headers = ["Stripe-Should-Retry": "true"]
            return fail(error)
        case .serverError(after: false)?, .rateLimit?, .delay?, nil:
            log.status = status
            return .response(HTTPResponse(status: status, headers: jsonHeaders + headers, body: bytes))
        }
    }

    /// The query and (for POST and DELETE) body parameters, checked against the operation's
    /// shapes.
    private func decodeParams(_ request: HTTPRequest, operation: String) throws(APIError) -> Params {
        var text = request.query
        if request.method != "GET", !request.body.isEmpty {
            let body = String(decoding: request.body, as: UTF8.self)
            text = text.isEmpty ? body : text + "&" + body
        }
        let values: [String: FormValue]
        do {
            values = try FormDecoder.decode(text)
        } catch {
            throw .invalidRequest(error.message)
        }
        if case let .object(properties, required) = ParamShape.operations[operation] ?? .anything,
           let problem = ParamShape.check(values, properties: properties, required: required, prefix: nil) {
            throw problem
        }
        return Params(values: values)
    }

    /// Runs a handler on the account's state, keeps its answer under the request's
    /// Idempotency-Key, and delivers the events it made.
    private func run(_ route: Route, _ context: RequestContext, account id: String,
                     storing request: HTTPRequest) -> (status: Int, body: [UInt8]) {
        // Taken out of the dictionary while the handler runs, so its tables are changed in place
        // rather than copied.
        var account = state.takeAccount(id, configuration: configuration, now: context.now)
        let status: Int
        let body: JSON
        do {
            body = try route.handler(&account, context)
            status = 200
        } catch {
            status = error.status
            body = error.body(requestId: context.requestId)
        }
        let bytes = body.bytes
        if let key = context.idempotencyKey {
            account.idempotency[key] = StoredResponse(method: request.method, path: request.path, body: request.body, status: status,
                                                      response: bytes, requestId: context.requestId, created: context.now)
        }
        deliverEvents(of: &account)
        state.accounts[id] = account
        return (status, bytes)
    }

    /// Queues the events the last call made for every endpoint that wants them (or holds them,
    /// after `POST /_sim/webhooks/hold`).
    func deliverEvents(of account: inout AccountState) {
        let events = account.undelivered
        account.undelivered = []
        guard !events.isEmpty else { return }
        let endpoints = Array(account.webhookEndpoints.oldestFirst)
        for event in events {
            for endpoint in endpoints where endpoint.wants(event.type) {
                deliverer.enqueue(event: event.json(livemode: account.livemode), eventId: event.id, type: event.type,
                                  target: endpoint.target)
            }
        }
    }

    private var jsonHeaders: [(name: String, value: String)] {
        [("Content-Type", "application/json"), ("Stripe-Version", Simulator.apiVersion),
         ("Cache-Control", "no-cache, no-store")]
    }

    /// Now on the simulator's clock, in Unix seconds.
    var currentTime: Int64 { Int64(clock.wall()) + state.clockOffset }

    private func authenticate(_ request: HTTPRequest) -> Result<Credential, APIError> {
        guard let header = request.header("authorization"), !header.isEmpty else {
            return .failure(.invalidRequest("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
                                            status: 401))
        }
        let raw: String
        if header.lowercased().hasPrefix("bearer ") {
            raw = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if header.lowercased().hasPrefix("basic "),
                  let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)) {
            raw = String(String(decoding: decoded, as: UTF8.self).prefix { $0 != ":" })
        } else {
            return .failure(.invalidRequest("Invalid authorization header: use 'Authorization: Bearer YOUR_SECRET_KEY'.", status: 401))
        }
        guard let key = APIKey(raw) else {
            return .failure(.invalidRequest("Invalid API Key provided: \(APIKey.mask(raw))", status: 401))
        }
        let mode: KeyMode = configuration.live ? .live : .test
        if let registered = state.keys[raw], registered.key.mode == mode {
            return .success(registered)
        }
        guard key.kind == .secret, key.mode == mode, state.keys[raw] == nil else {
            return .failure(.invalidRequest("Invalid API Key provided: \(key.masked)", status: 401))
        }
        return .success(Credential(key: key, account: configuration.defaultAccount, permissions: nil))
    }
}

extension APIError {
    static let rateLimited = APIError(
        status: 429, type: "invalid_request_error", code: "rate_limit",
        message: "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.")
}
