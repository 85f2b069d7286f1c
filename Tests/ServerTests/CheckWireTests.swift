import Foundation
import Testing
@testable import Billing
@testable import Server
import NIOCore

/// The check read from the connection's bytes: which requests it frames as checks, and which it
/// leaves to the HTTP decoder.
@Suite struct CheckWireTests {
    func frame(_ text: String, maxBodyBytes: Int = 1024) -> CheckWire.Frame {
        Array(text.utf8).withUnsafeBytes { CheckWire.frame($0, maxBodyBytes: maxBodyBytes) }
    }

    static let body = #"{"subject":"acme_prod","feature":"api_requests"}"#
    static let head = "POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tbt_1\r\ncontent-length: \(body.utf8.count)\r\n\r\n"

    @Test func aPlainCheckIsFramedWithItsAuthorization() throws {
        let request = Self.head + Self.body
        guard case .check(let headLength, let bodyLength, let authorization?) = frame(request) else {
            Issue.record("not framed as a check: \(frame(request))")
            return
        }
        #expect(headLength == Self.head.utf8.count)
        #expect(bodyLength == 48)
        let bytes = Array(request.utf8)
        #expect(String(decoding: bytes[authorization], as: UTF8.self) == "Bearer tbt_1")
        // A second request behind it changes nothing about the first.
        #expect(frame(request + request) == frame(request))
    }

    /// Keep-alive, which many clients state though HTTP/1.1 implies it, keeps a check here.
    @Test func aConnectionToKeepAliveIsStillACheck() {
        for value in ["keep-alive", "Keep-Alive", "KEEP-ALIVE"] {
            let request = "POST /v1/check HTTP/1.1\r\nConnection: \(value)\r\nContent-Length: 2\r\n\r\n{}"
            #expect(frame(request) == .check(headLength: request.utf8.count - 2, bodyLength: 2, authorization: nil), "\(value)")
        }
        for value in ["close", "keep-alive, Upgrade", "Upgrade", "keep-alivex"] {
            #expect(frame("POST /v1/check HTTP/1.1\r\nConnection: \(value)\r\nContent-Length: 2\r\n\r\n{}") == .other, "\(value)")
        }
    }

    @Test func everyCutOfARequestIsIncomplete() {
        let request = Array((Self.head + Self.body).utf8)
        for cut in 1..<request.count {
            let part = String(decoding: request[..<cut], as: UTF8.self)
            #expect(frame(part) == .incomplete, "cut at \(cut)")
        }
    }

    @Test func anythingUnusualGoesToTheDecoder() {
        let body = Self.body
        let length = "Content-Length: \(body.utf8.count)\r\n"
        let others = [
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /v1/events HTTP/1.1\r\n\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.0\r\n\(length)\r\n\(body)",
            "POST /v1/check?x=1 HTTP/1.1\r\n\(length)\r\n\(body)",
            "post /v1/check HTTP/1.1\r\n\(length)\r\n\(body)",
            // No length, a chunked body, a connection to close, a continue to wait for.
            "POST /v1/check HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /v1/check HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n30\r\n\(body)\r\n0\r\n\r\n",
            "POST /v1/check HTTP/1.1\r\nConnection: close\r\n\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.1\r\nExpect: 100-continue\r\n\(length)\r\n",
            "POST /v1/check HTTP/1.1\r\nUpgrade: h2c\r\n\(length)\r\n\(body)",
            // Two lengths, a signed or too long one, a body over the limit.
            "POST /v1/check HTTP/1.1\r\n\(length)\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.1\r\nContent-Length: +48\r\n\r\n\(body)",
            "POST /v1/check HTTP/1.1\r\nContent-Length: 1234567890\r\n\r\n",
            "POST /v1/check HTTP/1.1\r\nContent-Length: 1025\r\n\r\n",
            // A folded line, a bare line feed, a name with a space, a control byte in a value.
            "POST /v1/check HTTP/1.1\r\nX-A: 1\r\n  2\r\n\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.1\n\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.1\r\nX A: 1\r\n\(length)\r\n\(body)",
            "POST /v1/check HTTP/1.1\r\nX-A: 1\u{1}\r\n\(length)\r\n\(body)",
            // Two credentials.
            "POST /v1/check HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\(length)\r\n\(body)",
        ]
        for request in others {
            #expect(frame(request) == .other, "\(request.debugDescription)")
        }
        // A head that never ends is the decoder's once it passes the limit.
        let endless = "POST /v1/check HTTP/1.1\r\nX-Long: " + String(repeating: "a", count: CheckWire.maxHeadBytes)
        #expect(frame(endless) == .other)
        #expect(frame(String(endless.prefix(200))) == .incomplete)
    }

    @Test func theResponseCarriesTheRoutedChecksFields() {
        var facts = CheckFacts(feature: "api_requests")
        facts.customer = "acme"
        let reply = CheckRoute.Reply(allowed: facts)
        var buffer = ByteBuffer()
        CheckWire.writeResponse(reply, date: "Tue, 08 Dec 2026 03:00:00 GMT", into: &buffer)
        let text = buffer.readString(length: buffer.readableBytes)!
        let body = #"{"allowed":true,"customer":"acme","feature":"api_requests"}"#
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Date: Tue, 08 Dec 2026 03:00:00 GMT\r\nServer: tollbooth\r\n\r\n" + body)
        // A refusal: its status and the problem's content type.
        let refusal = CheckRoute.Reply(Problem(.forbidden, "Forbidden", "quota exhausted"))
        var refused = ByteBuffer()
        CheckWire.writeResponse(refusal, date: "Tue, 08 Dec 2026 03:00:00 GMT", into: &refused)
        #expect(refused.readString(length: refused.readableBytes)! == "HTTP/1.1 403 Forbidden\r\nContent-Type: \(Problem.contentType)\r\n"
            + "Content-Length: \(refusal.text.utf8.count)\r\nDate: Tue, 08 Dec 2026 03:00:00 GMT\r\nServer: tollbooth\r\n\r\n" + refusal.text)
    }

    /// The flat reading gives the general parser's value, or leaves the body to it.
    @Test func aFlatBodyReadsAsTheGeneralParserReadsIt() throws {
        let flat = [
            Self.body,
            #" { "apiKey" : "tbk_1" ,"feature":"f","units":12.50,"consume":true,"idempotencyKey":"k-1","x":null,"y":false,"z":-0 } "#,
            "{}",
            "{\n\t\"feature\": \"f\",\r\n\"units\": 0\n}",
        ]
        for body in flat {
            let quick = try #require(CheckRoute.flatObject(Array(body.utf8)), "\(body)")
            #expect(quick == (try JSONValue.parse(body)), "\(body)")
        }
        let left = [
            #"{"feature":"a\"b"}"#, #"{"feature":"café"}"#, #"{"units":1e3}"#, #"{"units":01}"#, #"{"units":1.}"#,
            #"{"a":[1]}"#, #"{"a":{}}"#, #"{"a":1,"a":2}"#, #"{"a":1,}"#, #"{"a":1} x"#, #"[1]"#, #"{"a":tru}"#, "",
        ]
        for body in left {
            #expect(CheckRoute.flatObject(Array(body.utf8)) == nil, "\(body)")
        }
    }
}
