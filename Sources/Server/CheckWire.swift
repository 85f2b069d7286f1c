import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Pipeline

/// `POST /v1/check` read from the connection's bytes, ahead of the HTTP decoder: a gateway keeps
/// connections open and asks one check per API request, and most of a check's cost through
/// SwiftNIO's HTTP codec and Hummingbird's parts is the codec itself. A connection is served
/// here while it sends only checks in the plain form every gateway client sends (`HTTP/1.1`, a
/// `Content-Length`, no `Transfer-Encoding`, `Expect` or `Upgrade`, `Connection` only if it says
/// `keep-alive`, a body within `server.maxBodyBytes`). The first request that is anything else, with what was read after it,
/// goes on to the HTTP decoder, and the connection stays there (`CheckChannelHandler` still
/// answers its checks): answers leave in the order their requests came, and everything unusual
/// is judged by the decoder. The answers, log lines and metrics are the routed check's.
final class CheckWireHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let checks: CheckService
    /// Bytes read and not yet answered or handed on.
    private var unread: ByteBuffer?
    /// A check waits for the store; what arrives meanwhile waits in `unread`.
    private var waiting = false
    /// Handed on to the HTTP decoder, for good.
    private var passing = false
    /// Shutdown asked the connection to close while a check waited for the store: passed on
    /// once that check is answered (Hummingbird closes a connection it sees no request on).
    private var quiesceHeld = false
    /// The last `Authorization` value and its token's digest: a connection sends the same one.
    private var credential: (value: String, digest: String)?

    init(checks: CheckService) {
        self.checks = checks
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !passing else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if unread == nil { unread = bytes } else { unread!.writeBuffer(&bytes) }
        if !waiting { answerWhatIsRead(context: context) }
    }

    private func answerWhatIsRead(context: ChannelHandlerContext) {
        var wrote = false
        defer { if wrote { context.flush() } }
        while !waiting, var bytes = unread, bytes.readableBytes > 0 {
            let frame = bytes.withUnsafeReadableBytes { CheckWire.frame($0, maxBodyBytes: checks.maxBodyBytes) }
            switch frame {
            case .incomplete:
                return
            case .other:
                return handOn(context: context)
            case .check(let headLength, let bodyLength, let authorization):
                let started = ContinuousClock.now
                let bearer = authorization.map { bytes.getString(at: bytes.readerIndex + $0.lowerBound, length: $0.count)! }
                bytes.moveReaderIndex(forwardBy: headLength)
                let body = bytes.readBytes(length: bodyLength)!
                unread = bytes.readableBytes > 0 ? bytes : nil
                switch checks.decide(authorization: bearer, digest: digest(of: bearer), body: body, tooLarge: false) {
                case .now(let reply):
                    write(reply, started: started, context: context)
                    wrote = true
                case .later(let check):
                    waiting = true
                    let promise = context.eventLoop.makePromise(of: CheckAnswer.self)
                    checks.live.check(check) { promise.completeWith($0) }
                    promise.futureResult.assumeIsolated().whenComplete { result in
                        self.write(self.checks.reply(result), started: started, context: context)
                        context.flush()
                        self.waiting = false
                        if !self.passing { self.answerWhatIsRead(context: context) }
                        if self.quiesceHeld, !self.waiting {
                            // From the pipeline's head: this handler may have handed on meanwhile.
                            self.quiesceHeld = false
                            context.channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                        }
                    }
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !passing, waiting, event is ChannelShouldQuiesceEvent {
            quiesceHeld = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// The token digest of an `Authorization` value, remembered for the connection's next check.
    private func digest(of value: String?) -> String? {
        guard let value else { return nil }
        if let credential, credential.value == value { return credential.digest }
        guard let secret = LiveServer.bearerSecret(value) else { return nil }
        let digest = Credentials.digest(secret)
        credential = (value, digest)
        return digest
    }

    /// From here on the connection is the HTTP decoder's: what was read goes to it now.
    private func handOn(context: ChannelHandlerContext) {
        passing = true
        if let bytes = unread {
            unread = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            // The decoder's parts are taken in when a read ends: these may come after it did.
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func write(_ reply: CheckRoute.Reply, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 192 + reply.text.utf8.count)
        CheckWire.writeResponse(reply, date: HTTPDate.now(), into: &buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        checks.record(status: reply.status, since: started)
    }
}

/// The bytes of a check on the wire: how a request is framed, and the answer's bytes.
enum CheckWire {
    enum Frame: Equatable {
        /// Not all of the head or body is here yet.
        case incomplete
        /// Not a check this path answers: the HTTP decoder takes it.
        case other
        /// A check: its head's length (through the blank line), its body's, and where the
        /// `Authorization` value lies in the head.
        case check(headLength: Int, bodyLength: Int, authorization: Range<Int>?)
    }

    /// Longest head looked at; a longer one goes to the decoder.
    static let maxHeadBytes = 8192
    private static let requestLine = Array("POST /v1/check HTTP/1.1\r\n".utf8)

    /// Frames the request at the start of `bytes`.
    static func frame(_ bytes: UnsafeRawBufferPointer, maxBodyBytes: Int) -> Frame {
        let line = requestLine
        let prefix = min(bytes.count, line.count)
        for index in 0..<prefix where bytes[index] != line[index] { return .other }
        guard bytes.count > line.count else { return .incomplete }
        var position = line.count
        var contentLength: Int?
        var authorization: Range<Int>?
        while true {
            // One header line, or the blank line that ends the head.
            guard position + 1 < bytes.count else { return position > maxHeadBytes ? .other : .incomplete }
            if bytes[position] == 13 {
                guard bytes[position + 1] == 10 else { return .other }
                position += 2
                break
            }
            var cursor = position
            while cursor < bytes.count, isTokenByte(bytes[cursor]) { cursor += 1 }
            guard cursor < bytes.count else { return cursor > maxHeadBytes ? .other : .incomplete }
            guard cursor > position, bytes[cursor] == UInt8(ascii: ":") else { return .other }
            let name = position..<cursor
            cursor += 1
            while cursor < bytes.count, bytes[cursor] == 32 || bytes[cursor] == 9 { cursor += 1 }
            let valueStart = cursor
            while cursor < bytes.count, bytes[cursor] != 13 {
                let byte = bytes[cursor]
                guard byte >= 32 || byte == 9, byte != 127 else { return .other }
                cursor += 1
            }
            guard cursor + 1 < bytes.count else { return cursor > maxHeadBytes ? .other : .incomplete }
            guard bytes[cursor + 1] == 10 else { return .other }
            var valueEnd = cursor
            while valueEnd > valueStart, bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9 { valueEnd -= 1 }
            position = cursor + 2
            guard position <= maxHeadBytes else { return .other }
            switch lowercasedName(bytes, name) {
            case "content-length":
                guard contentLength == nil, valueEnd > valueStart, valueEnd - valueStart <= 9 else { return .other }
                var length = 0
                for index in valueStart..<valueEnd {
                    guard (48...57).contains(bytes[index]) else { return .other }
                    length = length * 10 + Int(bytes[index] - 48)
                }
                contentLength = length
            case "authorization":
                guard authorization == nil else { return .other }
                authorization = valueStart..<valueEnd
            case "connection":
                // Keep-alive is HTTP/1.1's default, and many clients say so; anything else
                // (close, an upgrade) is the decoder's.
                guard isKeepAlive(bytes, valueStart..<valueEnd) else { return .other }
            case "transfer-encoding", "expect", "upgrade", "content-encoding":
                return .other
            default:
                break
            }
        }
        guard let contentLength, contentLength <= maxBodyBytes else { return .other }
        guard bytes.count - position >= contentLength else { return .incomplete }
        return .check(headLength: position, bodyLength: contentLength, authorization: authorization)
    }

    /// The names this path acts on, lower-cased; nil for any other (not copied).
    private static func lowercasedName(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let count = range.count
        guard count == 6 || count == 7 || count == 10 || count == 13 || count == 14 || count == 16 || count == 17 else { return nil }
        var name = [UInt8]()
        name.reserveCapacity(count)
        for index in range {
            let byte = bytes[index]
            name.append((65...90).contains(byte) ? byte + 32 : byte)
        }
        return String(decoding: name, as: UTF8.self)
    }

    /// Whether a value is `keep-alive`, in any case.
    private static func isKeepAlive(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        let word = "keep-alive".utf8
        guard range.count == word.count else { return false }
        return zip(range, word).allSatisfy { index, letter in
            let byte = bytes[index]
            return ((65...90).contains(byte) ? byte + 32 : byte) == letter
        }
    }

    /// RFC 9110's token characters, which a header's name is made of.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The answer as HTTP/1.1: the fields the routed check answers with.
    static func writeResponse(_ reply: CheckRoute.Reply, date: String, into buffer: inout ByteBuffer) {
        if reply.status == .ok, reply.contentType == "application/json" {
            // An allowed check's, the answer almost every check gets.
            buffer.writeStaticString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ")
        } else {
            buffer.writeString("HTTP/1.1 \(reply.status.code) \(reply.status.reasonPhrase)\r\nContent-Type: ")
            buffer.writeString(reply.contentType)
            buffer.writeStaticString("\r\nContent-Length: ")
        }
        buffer.writeString(String(reply.text.utf8.count))
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date)
        buffer.writeStaticString("\r\nServer: tollbooth\r\n\r\n")
        buffer.writeString(reply.text)
    }
}

/// Hummingbird's HTTP/1.1 channel with `CheckWireHandler` in front of its decoder.
struct CheckingHTTP1Channel: ServerChildChannel {
    let http1: HTTP1Channel
    let checks: CheckService

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(CheckWireHandler(checks: checks))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with checks answered from the connection's bytes where they can be, and from
    /// the decoded parts (`CheckChannelHandler`) where they cannot.
    static func http1(checks: CheckService) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            CheckingHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [CheckChannelHandler(checks: checks)])),
                                 checks: checks)
        }
    }
}
