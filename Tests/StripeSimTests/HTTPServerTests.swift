#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import StripeSim

/// The server over a raw loopback socket: keep-alive, Connection: close, 100-continue.
@Suite struct HTTPServerTests {
    /// A server answering each request with its method, path and body.
    private func echoServer() throws -> HTTPServer {
        let server = try HTTPServer(port: 0) { request in
            let text = "\(request.method) \(request.path) \(String(decoding: request.body, as: UTF8.self))"
            return .response(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array(text.utf8)))
        }
        server.start()
        return server
    }

    /// A blocking client socket with a 30-second read timeout (long: the whole suite may be
    /// running at once, and only a broken server makes a read wait for it).
    private final class Connection {
        let fd: Int32

        init(port: UInt16) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            try #require(connected == 0)
            var timeout = timeval(tv_sec: 30, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        /// Everything readable until `marker` has arrived `count` times, or the peer closed.
        func read(until marker: String, count: Int = 1) -> (text: String, closed: Bool) {
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while String(decoding: data, as: UTF8.self).components(separatedBy: marker).count - 1 < count {
                let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                guard received > 0 else { return (String(decoding: data, as: UTF8.self), true) }
                data.append(contentsOf: buffer[0..<received])
            }
            return (String(decoding: data, as: UTF8.self), false)
        }

        /// Whether the peer has closed: a read returns end of file.
        var peerClosed: Bool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    @Test func keepAliveServesRequestsInOrderOnOneConnection() throws {
        let server = try echoServer()
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nonePOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\ntwo")
        let reply = connection.read(until: "POST /b two")
        #expect(reply.text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        #expect(reply.text.range(of: "POST /a one")!.lowerBound < reply.text.range(of: "POST /b two")!.lowerBound)
        #expect(reply.text.contains("Connection: keep-alive"))
        connection.send("GET /c HTTP/1.1\r\n\r\n")
        #expect(connection.read(until: "GET /c ").text.contains("GET /c "))
    }

    @Test func connectionCloseIsHonoured() throws {
        let server = try echoServer()
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("GET /bye HTTP/1.1\r\nConnection: close\r\n\r\n")
        let reply = connection.read(until: "GET /bye ")
        #expect(reply.text.contains("Connection: close"))
        #expect(connection.peerClosed)
    }

    @Test func expectContinueGetsAnInterimAnswer() throws {
        let server = try echoServer()
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("POST /big HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        #expect(connection.read(until: "\r\n\r\n").text == "HTTP/1.1 100 Continue\r\n\r\n")
        connection.send("body")
        #expect(connection.read(until: "POST /big body").text.contains("200 OK"))
    }

    @Test func aMalformedRequestIsAnswered400AndClosed() throws {
        let server = try echoServer()
        defer { server.stop() }
        let connection = try Connection(port: server.port)
        connection.send("NONSENSE\r\n\r\n")
        let reply = connection.read(until: "\n", count: 100)
        #expect(reply.text.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(reply.closed)
    }
}
