import Foundation

/// Everything a client needs but its transport, clock and logger.
public struct StripeConfiguration: Sendable {
    public static let apiVersion = "2026-07-29.dahlia"
    public static let defaultBaseURL = "https://api.stripe.com"

    public var apiKey: APIKey
    /// Without a trailing slash.
    public let baseURL: String
    /// Pacing, as Stripe limits an account: requests a second in all, reads and writes
    /// together, and requests a second to each endpoint (one operation, whatever the ids in its
    /// path). Sends are spaced `1 / rate` apart under each, so no one-second window Stripe may
    /// count in holds more than the rate and one.
    public var requestsPerSecond: Double
    public var endpointRequestsPerSecond: Double
    public var retry: RetryPolicy

    /// `baseURL` must be `https://`, or plain `http://` on a loopback host (127.0.0.1, ::1,
    /// localhost) such as a local `stripe-sim`; anything else is refused, since the key would
    /// cross a network in clear text.
    public init(apiKey: APIKey, baseURL: String = StripeConfiguration.defaultBaseURL,
                requestsPerSecond: Double = 22, endpointRequestsPerSecond: Double = 22,
                retry: RetryPolicy = RetryPolicy()) throws(StripeError) {
        self.apiKey = apiKey
        self.baseURL = try StripeConfiguration.checkedBaseURL(baseURL)
        guard requestsPerSecond > 0, endpointRequestsPerSecond > 0 else {
            throw StripeError(invalidInput: "stripe.requestsPerSecond and stripe.endpointRequestsPerSecond must be above 0")
        }
        self.requestsPerSecond = requestsPerSecond
        self.endpointRequestsPerSecond = endpointRequestsPerSecond
        self.retry = retry
    }

    static func checkedBaseURL(_ text: String) throws(StripeError) -> String {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let url = URLComponents(string: trimmed), let scheme = url.scheme?.lowercased(),
              let host = url.host?.lowercased(), !host.isEmpty,
              url.user == nil, url.password == nil, url.query == nil, url.fragment == nil
        else {
            throw StripeError(invalidInput: "stripe.apiBase \"\(text)\" is not a base URL such as \(defaultBaseURL) (no query, fragment or user name)")
        }
        switch scheme {
        case "https":
            return trimmed
        case "http":
            let loopback: Set<String> = ["127.0.0.1", "::1", "[::1]", "localhost"]
            guard loopback.contains(host) else {
                throw StripeError(invalidInput: "stripe.apiBase \"\(text)\" uses plain http on \(host); the key would cross the network in clear text: use https, or http only on 127.0.0.1, ::1 or localhost (a local stripe-sim)")
            }
            return trimmed
        default:
            throw StripeError(invalidInput: "stripe.apiBase \"\(text)\" must start with https:// (or http:// on a loopback host)")
        }
    }
}

/// When a failed call is sent again: on HTTP 429, any 5xx, a 409 whose code is `lock_timeout`,
/// and a transient network failure (refused, reset, timed out, empty reply), unless Stripe's
/// `Stripe-Should-Retry` header says otherwise (`true` retries any answer, `false` none).
/// Waits grow exponentially with full jitter (a random time between 0 and the cap), within at
/// most `maxAttempts` sends and `deadline` seconds for the whole call.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    /// Seconds from the first send to giving up, waits included.
    public var deadline: Double
    /// The most one attempt may take.
    public var attemptTimeout: Double
    /// The cap of the first wait, doubled for each further one up to `maxDelay`.
    public var initialDelay: Double
    public var maxDelay: Double
    /// A wait between 0 and the cap it is given: random, or fixed in tests.
    public var jitter: @Sendable (Double) -> Double

    public init(maxAttempts: Int = 4, deadline: Double = 120, attemptTimeout: Double = 60,
                initialDelay: Double = 0.5, maxDelay: Double = 8,
                jitter: @escaping @Sendable (Double) -> Double = { Double.random(in: 0...$0) }) {
        self.maxAttempts = max(1, maxAttempts)
        self.deadline = deadline
        self.attemptTimeout = attemptTimeout
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The wait before attempt `attempt + 1`, after `attempt` failed ones.
    func delay(after attempt: Int) -> Double {
        let cap = min(maxDelay, initialDelay * pow(2, Double(attempt - 1)))
        return min(cap, max(0, jitter(cap)))
    }

    /// Whether a failure is worth another send, whatever the attempts left.
    static func shouldRetry(_ error: StripeError) -> Bool {
        switch error.kind {
        case .network(let reason):
            return reason.isTransient
        case .api:
            if let header = error.shouldRetry { return header }
            let status = error.status ?? 0
            return status == 429 || status >= 500 || (status == 409 && error.code == "lock_timeout")
        case .deadline, .decoding, .invalidInput:
            return false
        }
    }
}
