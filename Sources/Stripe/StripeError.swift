import Foundation

/// Why a Stripe call failed, with what a user needs to act on it: Stripe's own fields (`type`,
/// `code`, `decline_code`, `param`, `message`), the HTTP status, the `Request-Id` to quote to
/// Stripe support, and the call. Every text in it has its secrets masked (`Redact`).
public struct StripeError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Stripe answered with an error status.
        case api
        /// No answer at all, for the reason given.
        case network(NetworkError.Kind)
        /// The call's deadline passed before it got an answer it could keep; `message` says
        /// what the last attempt got.
        case deadline
        /// A success answer that is not the object asked for.
        case decoding
        /// Refused before anything was sent: a bad key, base URL or idempotency key.
        case invalidInput
    }

    public var kind: Kind
    /// The HTTP status of the last answer, if there was one.
    public var status: Int?
    /// Stripe's error type: `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`.
    public var type: String?
    public var code: String?
    public var declineCode: String?
    public var param: String?
    /// Stripe's message; for a network failure, the transport's words.
    public var message: String
    /// Stripe's `Request-Id` header of the last answer.
    public var requestId: String?
    /// The call, as "POST /v1/invoices"; nil for input refused before a call.
    public var call: String?
    /// How many times the request was sent.
    public var attempts: Int
    /// The `Stripe-Should-Retry` header of the last answer.
    var shouldRetry: Bool?

    init(kind: Kind, message: String, status: Int? = nil, call: String? = nil, attempts: Int = 0) {
        self.kind = kind
        self.message = Redact.secrets(in: message)
        self.status = status
        // The path holds the caller's ids, which may be anything, a secret included.
        self.call = call.map { Redact.secrets(in: $0) }
        self.attempts = attempts
    }

    init(invalidInput message: String) {
        self.init(kind: .invalidInput, message: message)
    }

    /// An error answer, from Stripe's `{"error": {...}}` body when it has one.
    init(response: HTTPResponse, call: String, attempts: Int) {
        struct Body: Decodable {
            struct Detail: Decodable {
                var type: String?
                var code: String?
                var declineCode: String?
                var param: String?
                var message: String?
            }
            var error: Detail
        }
        let detail = try? StripeJSON.decoder().decode(Body.self, from: response.body).error
        let fallback = String(decoding: response.body.prefix(200), as: UTF8.self)
        self.init(kind: .api, message: detail?.message ?? "HTTP \(response.status) without a Stripe error body: \(fallback)",
                  status: response.status, call: call, attempts: attempts)
        type = detail?.type
        code = detail?.code
        declineCode = detail?.declineCode
        param = detail?.param
        requestId = response.header("Request-Id")
        shouldRetry = response.header("Stripe-Should-Retry").flatMap { Bool($0.lowercased()) }
    }

    /// The `rak_…` permission a 403 names, if any.
    public var missingPermission: String? {
        guard kind == .api, status == 403, let match = message.firstMatch(of: /rak_[a-z0-9_*]+/) else { return nil }
        return String(match.output)
    }

    /// The row of the eight-permission table the missing permission belongs to.
    public var permission: Permission? { missingPermission.flatMap(Permission.init(rakName:)) }

    /// Worth trying again later, as it is (a re-run of the stage, with the same idempotency
    /// key): the network, a deadline, Stripe's rate limit or a fault on Stripe's side. Anything
    /// else needs a change first: a key, a permission, a parameter, a card.
    public var isTransient: Bool {
        switch kind {
        case .network(let reason): return reason.isTransient
        case .deadline: return true
        case .api: return status == 429 || (status ?? 0) >= 500 || code == "lock_timeout"
        case .decoding, .invalidInput: return false
        }
    }

    public var description: String {
        let callText = call ?? "the call"
        let tries = attempts > 1 ? " after \(attempts) attempts" : ""
        let request = requestId.map { " (request \($0))" } ?? ""
        let text: String
        switch kind {
        case .invalidInput:
            text = message
        case .network(let reason):
            let detail = message.isEmpty ? "" : " (\(message))"
            text = "could not reach Stripe for \(callText)\(tries): \(reason.rawValue)\(detail); check stripe.apiBase and the network"
        case .deadline:
            text = attempts == 0
                ? "gave up on \(callText) before sending it: \(message)"
                : "gave up on \(callText)\(tries) at its deadline; the last attempt: \(message)"
        case .decoding:
            text = "Stripe's answer to \(callText) was not what the client expected: \(message)\(request)"
        case .api:
            text = apiDescription(callText) + tries + request
        }
        return Redact.secrets(in: text)
    }

    private func apiDescription(_ callText: String) -> String {
        let status = status ?? 0
        if let rak = missingPermission {
            guard let permission = Permission(rakName: rak) else {
                return "Stripe refused \(callText) (HTTP 403): the restricted key lacks \(rak), which is not one of the eight permissions Tollbooth asks for; give the key that permission in the Stripe Dashboard or use a key that has it"
            }
            return "Stripe refused \(callText) (HTTP 403): the restricted key lacks '\(permission.dashboardSetting)' (\(rak), permission \(permission.row) of 8); \(permission.advice)"
        }
        let facts = [type, code.map { "code \($0)" }, declineCode.map { "decline code \($0)" }, param.map { "param \($0)" }]
            .compactMap { $0 }
        let head = "Stripe refused \(callText) (HTTP \(status)\(facts.isEmpty ? "" : ", " + facts.joined(separator: ", "))): \(message)"
        switch status {
        case 401:
            return head + "; the key is wrong, expired or rolled: set the current one with `tollbooth stripe rotate-key`"
        case 429:
            return head + "; lower stripe.requestsPerSecond or stripe.endpointRequestsPerSecond in the settings file"
        default:
            return head
        }
    }
}
