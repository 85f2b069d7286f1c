/// The whole simulator's state: accounts, registered keys, the tax rate table, pending faults,
/// the request log and the rate-limit windows.
struct SimState: Sendable {
    var accounts: [String: AccountState] = [:]
    /// Keys registered through `POST /_sim/keys`, by their raw text.
    var keys: [String: Credential] = [:]
    var taxRules: [TaxRule] = []
    var faults: [Fault] = []
    var requestLog: [RequestLogEntry] = []
    /// Monotonic times of the requests admitted in the last second, per account and per account
    /// and endpoint.
    var windows: [String: [Double]] = [:]
    /// Seconds added to the wall clock by `POST /_sim/clock`.
    var clockOffset: Int64 = 0

    init(configuration: SimulatorConfiguration, now: Int64) {
        accounts[configuration.defaultAccount] = SimState.newAccount(configuration.defaultAccount, live: configuration.live, now: now)
    }

    static func newAccount(_ id: String, live: Bool, now: Int64) -> AccountState {
        AccountState(account: Account(id: id, email: "billing@\(id.lowercased()).example", displayName: "Simulated account \(id)",
                                      created: now),
                     livemode: live)
    }

    /// The account's state, removed from the dictionary until the caller puts it back; made on
    /// first use.
    mutating func takeAccount(_ id: String, configuration: SimulatorConfiguration, now: Int64) -> AccountState {
        accounts.removeValue(forKey: id) ?? SimState.newAccount(id, live: configuration.live, now: now)
    }

    /// Whether one more request fits both of the account's one-second sliding windows: all its
    /// requests, and those to this endpoint (`POST /v1/invoices/{invoice}/finalize`). If so it
    /// counts in both; a refused request counts for nothing.
    mutating func admit(account: String, endpoint: String, at time: Double, configuration: SimulatorConfiguration) -> Bool {
        let windowsToCheck = [(account, configuration.globalPerSecond), ("\(account) \(endpoint)", configuration.endpointPerSecond)]
        var kept: [(String, [Double])] = []
        var fits = true
        for case let (key, limit?) in windowsToCheck {
            var window = windows[key] ?? []
            if let firstKept = window.firstIndex(where: { time - $0 < 1.0 }) {
                window.removeFirst(firstKept)
            } else {
                window.removeAll()
            }
            if window.count >= limit { fits = false }
            kept.append((key, window))
        }
        for (key, var window) in kept {
            if fits { window.append(time) }
            windows[key] = window
        }
        return fits
    }

    /// The first pending fault matching the request, counted down by one.
    mutating func takeFault(method: String, path: String) -> Fault? {
        guard let index = faults.firstIndex(where: { $0.matches(method: method, path: path) }) else { return nil }
        let fault = faults[index]
        faults[index].remaining -= 1
        if faults[index].remaining <= 0 { faults.remove(at: index) }
        return fault
    }
}

/// A failure injected into the next API requests.
struct Fault: Sendable {
    enum Kind: Sendable, Equatable {
        /// 500 before any work, or after the work is done and stored.
        case serverError(after: Bool)
        /// 429 before any work.
        case rateLimit
        /// The work is done and stored, then the connection breaks part-way through the answer.
        case drop
        /// The request waits this many milliseconds, then is served normally.
        case delay(milliseconds: Int)

        var name: String {
            switch self {
            case .serverError(after: false): return "500"
            case .serverError(after: true): return "500_after"
            case .rateLimit: return "429"
            case .drop: return "drop"
            case .delay: return "delay"
            }
        }
    }

    var kind: Kind
    var remaining: Int
    var method: String?
    var pathPrefix: String?

    func matches(method: String, path: String) -> Bool {
        (self.method.map { $0.uppercased() == method } ?? true) && (pathPrefix.map { path.hasPrefix($0) } ?? true)
    }
}

/// One API request as `GET /_sim/requests` lists it.
struct RequestLogEntry: Sendable {
    var requestId: String
    var method: String
    var path: String
    var idempotencyKey: String?
    /// 0 when the connection was dropped.
    var status: Int
    var account: String?
    var replayed: Bool
    var fault: String?

    var json: JSON {
        ["request_id": .string(requestId), "method": .string(method), "path": .string(path),
         "idempotency_key": .nullable(idempotencyKey), "status": .int(Int64(status)), "account": .nullable(account),
         "replayed": .bool(replayed), "fault": .nullable(fault)]
    }
}
