import Foundation
import Logging
import Testing
@testable import Stripe
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 for the real transport: keeps connections alive,
/// records what it received, and answers, hangs up or stays silent as told.
final class LoopbackServer: @unchecked Sendable {
    enum Reply {
        case answer(status: Int, headers: [String: String], body: String)
        case hangUp
        case silence
    }

    struct Received {
        var requestLine: String
        var headers: [String: String]
        var body: String
    }

    let port: UInt16
    private let listener: Int32
    private let reply: @Sendable (Received) -> Reply
    private let lock = NSLock()
    private var received: [Received] = []
    private var accepted = 0

    init(reply: @escaping @Sendable (Received) -> Reply) throws {
        self.reply = reply
        (listener, port) = try LoopbackServer.bound()
        guard listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    deinit { close(listener) }

    var requests: [Received] {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    var connections: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    func stop() { shutdown(listener, Int32(SHUT_RDWR)) }

    /// A socket bound to a free loopback port.
    static func bound() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard status else { close(fd); throw POSIXError(.EADDRNOTAVAIL) }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            lock.lock()
            accepted += 1
            lock.unlock()
            Thread { [self] in serve(connection) }.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        func fill() -> Bool {
            let count = read(connection, &chunk, chunk.count)
            guard count > 0 else { return false }
            buffer += chunk[0..<count]
            return true
        }
        while true {
            var headEnd: Int?
            while headEnd == nil {
                headEnd = buffer.indices.dropLast(3).first { buffer[$0..<$0 + 4] == [13, 10, 13, 10] }
                if headEnd == nil, !fill() { return }
            }
            let head = String(decoding: buffer[..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
            var headers: [String: String] = [:]
            for line in head.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            buffer.removeFirst(headEnd! + 4)
            while buffer.count < length { if !fill() { return } }
            let request = Received(requestLine: head[0], headers: headers, body: String(decoding: buffer[..<length], as: UTF8.self))
            buffer.removeFirst(length)
            lock.lock()
            received.append(request)
            lock.unlock()
            switch reply(request) {
            case .answer(let status, let extra, let body):
                var text = "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.utf8.count)\r\nContent-Type: application/json\r\n"
                for (name, value) in extra { text += "\(name): \(value)\r\n" }
                text += "\r\n" + body
                let bytes = Array(text.utf8)
                _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            case .hangUp:
                return
            case .silence:
                while fill() {}
                return
            }
        }
    }
}

@Suite struct CurlTransportTests {
    func request(_ method: HTTPMethod, _ url: String, body: String? = nil, timeout: Double = 5) -> HTTPRequest {
        HTTPRequest(method: method, url: url, headers: [("Authorization", "Bearer \(testKey)"), ("Idempotency-Key", "k-1")],
                    body: body, timeout: timeout)
    }

    @Test func aPostArrivesWholeAndItsAnswerIsRead() throws {
        let server = try LoopbackServer { _ in .answer(status: 402, headers: ["Request-Id": "req_loop", "Stripe-Should-Retry": "false"], body: #"{"ok":true}"#) }
        defer { server.stop() }
        // Over 1 KiB, where curl would otherwise send `Expect: 100-continue` and wait.
        let body = "description=" + String(repeating: "x", count: 4_000) + "&amount=100"
        let response = try CurlTransport().send(request(.post, "http://127.0.0.1:\(server.port)/v1/invoices", body: body))
        #expect(response.status == 402)
        #expect(response.header("request-id") == "req_loop")
        #expect(response.header("Stripe-Should-Retry") == "false")
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"ok":true}"#)
        let received = try #require(server.requests.first)
        #expect(received.requestLine == "POST /v1/invoices HTTP/1.1")
        #expect(received.body == body)
        #expect(received.headers["authorization"] == "Bearer \(testKey)")
        #expect(received.headers["idempotency-key"] == "k-1")
        #expect(received.headers["expect"] == nil)
    }

    @Test func callsReuseTheConnection() throws {
        let server = try LoopbackServer { _ in .answer(status: 200, headers: [:], body: "{}") }
        defer { server.stop() }
        let transport = CurlTransport()
        for _ in 0..<5 { _ = try transport.send(request(.get, "http://127.0.0.1:\(server.port)/v1/account")) }
        _ = try transport.send(request(.delete, "http://127.0.0.1:\(server.port)/v1/webhook_endpoints/we_1"))
        #expect(server.requests.map(\.requestLine).last == "DELETE /v1/webhook_endpoints/we_1 HTTP/1.1")
        #expect(server.requests.count == 6)
        #expect(server.connections == 1)
    }

    @Test func aClosedPortIsConnectionRefused() throws {
        let (fd, port) = try LoopbackServer.bound()
        close(fd)
        do {
            _ = try CurlTransport().send(request(.get, "http://127.0.0.1:\(port)/v1/account"))
            Issue.record("expected a network error")
        } catch {
            #expect(error.kind == .connectionRefused)
            #expect(!error.detail.isEmpty)
        }
    }

    @Test func aServerThatHangsUpIsAnEmptyReply() throws {
        let server = try LoopbackServer { _ in .hangUp }
        defer { server.stop() }
        do {
            _ = try CurlTransport().send(request(.get, "http://127.0.0.1:\(server.port)/v1/account"))
            Issue.record("expected a network error")
        } catch {
            #expect(error.kind == .emptyReply)
        }
    }

    @Test func aSilentServerTimesOut() throws {
        let server = try LoopbackServer { _ in .silence }
        defer { server.stop() }
        let started = Date()
        do {
            _ = try CurlTransport().send(request(.get, "http://127.0.0.1:\(server.port)/v1/account", timeout: 0.3))
            Issue.record("expected a timeout")
        } catch {
            #expect(error.kind == .timeout)
        }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func theClientRetriesThroughTheRealTransport() throws {
        let server = try LoopbackServer { request in
            request.headers["idempotency-key"] == "tollbooth-invoice-7" && request.body.isEmpty
                ? .answer(status: 500, headers: [:], body: #"{"error":{"type":"api_error","message":"x"}}"#) : .hangUp
        }
        defer { server.stop() }
        let configuration = try StripeConfiguration(apiKey: APIKey(testKey), baseURL: "http://127.0.0.1:\(server.port)",
                                                    retry: RetryPolicy(maxAttempts: 2, initialDelay: 0.01, maxDelay: 0.01))
        let client = StripeClient(configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let error = stripeError { () throws(StripeError) in try client.voidInvoice("in_1", idempotencyKey: "tollbooth-invoice-7") }
        #expect(error?.status == 500)
        #expect(server.requests.count == 2)
        #expect(server.requests.allSatisfy { $0.headers["stripe-version"] == "2026-07-29.dahlia" })
    }
}
