#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Why the server could not start.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A small HTTP/1.1 server on POSIX sockets, bound to 127.0.0.1 only: a thread accepts, a
/// thread per connection reads requests (keep-alive, Content-Length bodies) and writes replies.
/// The handler is called on connection threads, concurrently.
public final class HTTPServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPReply

    /// The bound port (the kernel's choice when asked for 0).
    public let port: UInt16
    private let listener: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var connections: Set<Int32> = []
    private var stopped = false
    /// Whether `start` began the accept loop (which closes the listener when it ends).
    private var accepting = false

    /// Binds 127.0.0.1:`port` and listens; `start()` begins accepting.
    public init(port: UInt16, handler: @escaping Handler) throws(ServerError) {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError(message: "cannot create a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError(message: "cannot listen on 127.0.0.1:\(port): \(reason)")
        }
        guard listen(fd, 512) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError(message: "cannot listen on 127.0.0.1:\(port): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.listener = fd
    }

    /// Starts the accept loop on its own thread and returns.
    public func start() {
        lock.withLock { accepting = true }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "http-accept"
        thread.start()
    }

    /// Stops accepting and ends every open connection. Descriptors are only shut down here and
    /// closed by the threads that use them: a descriptor closed under a thread still blocked on
    /// it can be reused for another socket of the process (another server's listener) before
    /// that thread wakes, which would then accept or cut that socket's connections.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(listener, Int32(SHUT_RDWR))
        // With no accept loop to close it, the listener is closed here.
        if !accepting { close(listener) }
        // Under the lock: a connection leaves the set before its thread closes it, so every
        // descriptor here is still open and still this server's.
        for fd in connections { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        defer { close(listener) }
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED, !lock.withLock({ stopped }) { continue }
                return
            }
            lock.lock()
            if stopped {
                lock.unlock()
                close(fd)
                return
            }
            connections.insert(fd)
            lock.unlock()
            var yes: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &yes, socklen_t(MemoryLayout<Int32>.size))
            // An idle keep-alive connection is closed after two minutes so its thread ends.
            var timeout = timeval(tv_sec: 120, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let thread = Thread { [self] in serve(fd) }
            thread.name = "http-connection"
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            lock.lock()
            connections.remove(fd)
            lock.unlock()
            close(fd)
        }
        var parser = HTTPRequestParser()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var continued = false
        while true {
            let request: HTTPRequest
            do {
                guard let next = try parser.next() else {
                    if parser.awaitsContinue, !continued {
                        continued = true
                        guard write(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) else { return }
                    }
                    let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { return }
                    parser.append(chunk[0..<count])
                    continue
                }
                request = next
            } catch {
                let body = Array("\(error.message)\n".utf8)
                let response = HTTPResponse(status: error.status, headers: [("Content-Type", "text/plain")], body: body)
                _ = write(fd, response.serialized(keepAlive: false))
                closeAfterReading(fd)
                return
            }
            continued = false
            switch handler(request) {
            case let .truncated(response):
                let bytes = response.serialized(keepAlive: false)
                _ = write(fd, Array(bytes.prefix(bytes.count - max(1, response.body.count / 2))))
                return
            case let .response(response):
                let keepAlive = request.keepAlive
                guard write(fd, response.serialized(keepAlive: keepAlive)), keepAlive else { return }
            }
        }
    }

    /// Ends the sending side, then reads what the client still sends before the socket closes:
    /// closing with unread bytes makes the kernel send a reset, which can destroy the answer
    /// before the client reads it.
    private func closeAfterReading(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_WR))
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var scratch = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
        }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }
}
