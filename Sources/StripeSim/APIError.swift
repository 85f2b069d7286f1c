/// An error answer with Stripe's body: `{"error": {"code", "decline_code", "doc_url", "message",
/// "param", "request_log_url", "type"}}`, fields absent when they do not apply.
struct APIError: Error, Sendable, Equatable {
    var status: Int
    var type: String
    var code: String?
    var param: String?
    var message: String
    var declineCode: String?
    /// Extra headers, such as `Stripe-Should-Retry`.
    var headers: [String: String] = [:]

    init(status: Int, type: String, code: String? = nil, param: String? = nil, message: String,
         declineCode: String? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        self.declineCode = declineCode
    }

    func body(requestId: String) -> JSON {
        var fields: [(String, JSON)] = []
        if let code { fields.append(("code", .string(code))) }
        if let declineCode { fields.append(("decline_code", .string(declineCode))) }
        if let code { fields.append(("doc_url", .string("https://stripe.com/docs/error-codes/\(code.replacingUnderscores)"))) }
        fields.append(("message", .string(message)))
        if let param { fields.append(("param", .string(param))) }
        fields.append(("request_log_url", .string("https://dashboard.stripe.com/test/logs/\(requestId)")))
        fields.append(("type", .string(type)))
        return ["error": .object(fields)]
    }

    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil, status: Int = 400) -> APIError {
        APIError(status: status, type: "invalid_request_error", code: code, param: param, message: message)
    }

    static func missing(_ param: String) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: "parameter_missing", param: param,
                 message: "Missing required param: \(param).")
    }

    /// A 404 for an id that names nothing in this account.
    static func noSuch(_ noun: String, _ id: String, param: String? = nil) -> APIError {
        APIError(status: 404, type: "invalid_request_error", code: "resource_missing", param: param ?? "id",
                 message: "No such \(noun): '\(id)'")
    }

    static func unrecognizedURL(_ method: String, _ path: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error",
                 message: "Unrecognized request URL (\(method): \(path)). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")
    }

    /// A state rule refused the call (an invoice that is not a draft, and so on).
    static func state(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", code: code, param: param, message: message)
    }

    static func api(_ message: String, status: Int = 500) -> APIError {
        APIError(status: status, type: "api_error", message: message)
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? "-" : $0 }) }
}
