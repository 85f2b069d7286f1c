import Foundation

public enum HTTPMethod: String, Hashable, Sendable {
    case get = "GET"
    case post = "POST"
    case delete = "DELETE"
}

/// One HTTP exchange as the client hands it to a transport: everything already encoded.
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    /// In the order they are sent.
    public var headers: [(name: String, value: String)]
    /// The form-encoded body of a POST; nil for GET and DELETE.
    public var body: String?
    /// The most this attempt may take, connecting included.
    public var timeout: Double

    public init(method: HTTPMethod, url: String, headers: [(name: String, value: String)], body: String?, timeout: Double) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// The value of the first header called `name` (any case).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// An HTTP answer, whatever its status.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Names lower-cased; a repeated header keeps its last value.
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { $1 }
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A request that got no HTTP answer.
public struct NetworkError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        case connectionRefused = "connection refused"
        case connectionReset = "connection reset"
        case timeout = "timed out"
        case emptyReply = "empty reply"
        case hostNotFound = "host not found"
        case tls = "TLS failure"
        case other = "network error"

        /// Worth another attempt: the next one may well get through. A host that does not
        /// resolve or a TLS failure is a setting to fix, not a moment to wait out.
        public var isTransient: Bool {
            switch self {
            case .connectionRefused, .connectionReset, .timeout, .emptyReply: return true
            case .hostNotFound, .tls, .other: return false
            }
        }
    }

    public var kind: Kind
    /// The transport's own words (curl's error buffer), for the log.
    public var detail: String

    public init(_ kind: Kind, detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue): \(detail)" }
}

/// Sends one request and waits for its answer. `CurlTransport` is the real one; tests use a
/// fake. Called from several threads at once.
public protocol StripeTransport: Sendable {
    func send(_ request: HTTPRequest) throws(NetworkError) -> HTTPResponse
}
