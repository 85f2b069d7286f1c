/// One HTTP/1.1 request as the server read it.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The request target as sent: path and query.
    public var target: String
    /// HTTP/1.0 or HTTP/1.1.
    public var version: String
    /// Header names lower-cased, in the order received.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, target: String, version: String = "HTTP/1.1",
                headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
        self.body = body
    }

    public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.version == rhs.version && lhs.body == rhs.body
            && lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }

    public var path: String {
        target.firstIndex(of: "?").map { String(target[..<$0]) } ?? target
    }

    public var query: String {
        target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) } ?? ""
    }

    /// Whether the connection stays open after the response: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        if version == "HTTP/1.0" { return connection.contains("keep-alive") }
        return !connection.contains("close")
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// Status line, headers (with Content-Length and Connection added) and body.
    public func serialized(keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        for header in headers { head += "\(header.name): \(header.value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        bytes.append(contentsOf: body)
        return bytes
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Payload Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}

/// What a handler tells the server to do with a request.
public enum HTTPReply: Sendable {
    case response(HTTPResponse)
    /// Send the head and part of the body, then close the connection: a network failure mid-answer.
    /// (A connection closed before any byte of the answer would be retried at once by libcurl
    /// on a reused connection, so the client would never see the failure.)
    case truncated(HTTPResponse)
}

/// A request the parser refuses; the server answers `status` and closes the connection.
public struct HTTPParseError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
}

/// Splits a byte stream into requests. Bodies are read by Content-Length only; chunked bodies
/// are refused with 501, which no Stripe client sends.
public struct HTTPRequestParser: Sendable {
    public static let maximumHeaderBytes = 64 * 1024
    public static let maximumBodyBytes = 16 * 1024 * 1024

    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the end of the head resumes, so a head arriving in pieces is
    /// scanned once.
    private var scanned = 0
    private var pendingHead: (request: HTTPRequest, bodyStart: Int, length: Int)?

    public init() {}

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            scanned = 0
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// True once a request's head asked for `Expect: 100-continue` and its body has not arrived.
    public var awaitsContinue: Bool {
        guard let pending = pendingHead else { return false }
        return pending.request.header("expect")?.lowercased() == "100-continue"
            && buffer.count - pending.bodyStart < pending.length
    }

    /// The next complete request, or nil until more bytes arrive.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        if pendingHead == nil {
            guard let headEnd = findHeadEnd() else {
                if buffer.count - start > HTTPRequestParser.maximumHeaderBytes {
                    throw HTTPParseError(status: 431, message: "request head over 64 KiB")
                }
                return nil
            }
            pendingHead = try parseHead(buffer[start..<headEnd], bodyStart: headEnd + 4)
        }
        guard let pending = pendingHead, buffer.count - pending.bodyStart >= pending.length else { return nil }
        var request = pending.request
        request.body = Array(buffer[pending.bodyStart..<(pending.bodyStart + pending.length)])
        start = pending.bodyStart + pending.length
        scanned = start
        pendingHead = nil
        if start > 65536 {
            buffer.removeSubrange(0..<start)
            start = 0
            scanned = 0
        }
        return request
    }

    private mutating func findHeadEnd() -> Int? {
        var index = max(scanned, start)
        while index + 3 < buffer.count {
            if buffer[index] == 13, buffer[index + 1] == 10, buffer[index + 2] == 13, buffer[index + 3] == 10 {
                return index
            }
            index += 1
        }
        scanned = max(start, buffer.count - 3)
        return nil
    }

    private func parseHead(_ head: ArraySlice<UInt8>, bodyStart: Int) throws(HTTPParseError)
        -> (request: HTTPRequest, bodyStart: Int, length: Int) {
        guard let text = String(validating: head, as: UTF8.self) else {
            throw HTTPParseError(status: 400, message: "request head is not UTF-8")
        }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false)
        // Tolerate blank lines before the request line (RFC 9112 section 2.2).
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard !lines.isEmpty else { throw HTTPParseError(status: 400, message: "empty request") }
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count == 3, requestLine[1].first == "/" || requestLine[1] == "*" else {
            throw HTTPParseError(status: 400, message: "malformed request line")
        }
        let version = String(requestLine[2])
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw HTTPParseError(status: 505, message: "only HTTP/1.0 and HTTP/1.1 are served")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  !line[..<colon].contains(where: { $0 == " " || $0 == "\t" }) else {
                throw HTTPParseError(status: 400, message: "malformed header line")
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingSpaces
            headers.append((name: name, value: value))
        }
        let request = HTTPRequest(method: String(requestLine[0]), target: String(requestLine[1]),
                                  version: version, headers: headers)
        if let encoding = request.header("transfer-encoding"), encoding.lowercased() != "identity" {
            throw HTTPParseError(status: 501, message: "Transfer-Encoding \(encoding) is not supported: send Content-Length")
        }
        var length = 0
        let lengths = headers.filter { $0.name == "content-length" }.map(\.value)
        if let first = lengths.first {
            guard let value = Int(first), value >= 0, lengths.allSatisfy({ $0 == first }) else {
                throw HTTPParseError(status: 400, message: "invalid Content-Length")
            }
            guard value <= HTTPRequestParser.maximumBodyBytes else {
                throw HTTPParseError(status: 413, message: "request body over 16 MiB")
            }
            length = value
        }
        return (request, bodyStart, length)
    }
}

extension Substring {
    var trimmingSpaces: String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
