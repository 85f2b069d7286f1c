import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes

/// `POST /v1/check` answered on the connection's event loop, ahead of Hummingbird's router: the
/// gateway asks it once per API request, so it skips the hops into Swift concurrency and back
/// that a routed request takes. A check decided from memory is answered at once; one that needs
/// the store (a consuming check's commit, a usage period's first count) is answered when that
/// is done, and the connection's next requests wait for it. Every other request goes on to
/// Hummingbird, and so does a check sent while an earlier request on the connection is still
/// being answered there, so answers always leave in the order their requests came. The answer's
/// bytes, log line and metrics are those of the routed check (`CheckRoute`).
final class CheckChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let checks: CheckService
    /// The check being read: its head, its body so far, when it began, and whether it is over
    /// the body limit.
    private var reading: (head: HTTPRequest, body: [UInt8], started: ContinuousClock.Instant, tooLarge: Bool)?
    /// Requests handed to Hummingbird whose answers have not been written in full.
    private var forwarded = 0
    /// A check waits for the store; the parts that arrive meanwhile are held back.
    private var waiting = false
    private var held: [HTTPRequestPart] = []

    init(checks: CheckService) {
        self.checks = checks
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if waiting { held.append(part) } else { read(part, context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { forwarded -= 1 }
        context.write(data, promise: promise)
    }

    private func read(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if forwarded == 0, head.method == .post, head.path == "/v1/check", head.headerFields[.connection] == nil {
                reading = (head, [], .now, false)
            } else {
                forwarded += 1
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .body(let buffer):
            guard var request = reading else { return context.fireChannelRead(wrapInboundOut(part)) }
            reading = nil
            if request.body.count + buffer.readableBytes > checks.maxBodyBytes {
                request.tooLarge = true
            } else {
                request.body.append(contentsOf: buffer.readableBytesView)
            }
            reading = request
        case .end:
            guard let request = reading else { return context.fireChannelRead(wrapInboundOut(part)) }
            reading = nil
            answer(request, context: context)
        }
    }

    private func answer(_ request: (head: HTTPRequest, body: [UInt8], started: ContinuousClock.Instant, tooLarge: Bool),
                        context: ChannelHandlerContext) {
        switch checks.decide(headers: request.head.headerFields, body: request.body, tooLarge: request.tooLarge) {
        case .now(let reply):
            send(reply, started: request.started, context: context)
        case .later(let check):
            waiting = true
            // The store's queue only hands the answer over; it is written out on the event loop.
            let promise = context.eventLoop.makePromise(of: CheckAnswer.self)
            checks.live.check(check) { promise.completeWith($0) }
            promise.futureResult.assumeIsolated().whenComplete { result in
                self.send(self.checks.reply(result), started: request.started, context: context)
                self.waiting = false
                let parts = self.held
                self.held = []
                for part in parts {
                    if self.waiting { self.held.append(part) } else { self.read(part, context: context) }
                }
                // Hummingbird takes in what was read when a read ends: parts handed on here, after
                // theirs did, need an end of their own.
                if !parts.isEmpty { context.fireChannelReadComplete() }
            }
        }
    }

    private func send(_ reply: CheckRoute.Reply, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: reply.text.utf8.count)
        body.writeString(reply.text)
        var fields = HTTPFields()
        fields.reserveCapacity(4)
        fields[.contentType] = reply.contentType
        fields[.contentLength] = String(body.readableBytes)
        fields[.date] = HTTPDate.now()
        fields[.server] = "tollbooth"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: reply.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        checks.record(status: reply.status, since: started)
    }
}

/// What the fast path shares between connections: the live state, the log and the metrics
/// Hummingbird's middleware would have written for the routed check.
final class CheckService: Sendable {
    let live: LiveServer
    let logger: Logger
    let maxBodyBytes: Int
    private let metrics: [Int: (requests: Counter, errors: Counter?, duration: Metrics.Timer)]

    init(live: LiveServer, logger: Logger) {
        self.live = live
        self.logger = logger
        maxBodyBytes = live.settings.server.maxBodyBytes
        // The statuses the check answers, with the labels of Hummingbird's MetricsMiddleware.
        metrics = Dictionary(uniqueKeysWithValues: [200, 400, 401, 403, 413, 422, 503].map { code in
            let labels = [("http.route", "/v1/check"), ("http.request.method", "POST"), ("http.response.status_code", String(code))]
            return (code, (Counter(label: "hb.requests", dimensions: labels),
                           code >= 400 ? Counter(label: "hb.request.errors", dimensions: [("http.route", "/v1/check"), ("http.request.method", "POST"),
                                                                                          ("error.type", String(code))]) : nil,
                           Metrics.Timer(label: "http.server.request.duration", dimensions: labels, preferredDisplayUnit: .seconds)))
        })
    }

    enum Decision {
        case now(CheckRoute.Reply)
        case later(CheckRequest)
    }

    /// The reply when it needs nothing from the store, else the check to decide with it.
    func decide(headers: HTTPFields, body: [UInt8], tooLarge: Bool) -> Decision {
        decide(authorization: headers[.authorization], digest: nil, body: body, tooLarge: tooLarge)
    }

    /// The same, from the `Authorization` value and, when known, its token's digest.
    func decide(authorization: String?, digest: String?, body: [UInt8], tooLarge: Bool) -> Decision {
        do {
            try live.authorize(authorization: authorization, digest: digest, .check)
            guard !tooLarge else {
                throw Problem(.contentTooLarge, "Content Too Large", "the body is over \(maxBodyBytes) bytes (server.maxBodyBytes)")
            }
            let check = try CheckRoute.request(from: body, live: live)
            guard let answer = live.checkWithoutWaiting(check) else { return .later(check) }
            return .now(CheckRoute.reply(answer, live: live))
        } catch let problem as Problem {
            return .now(CheckRoute.Reply(problem))
        } catch {
            return .now(CheckRoute.Reply(Problem(.internalServerError, "Internal Server Error", "the server could not answer; try again")))
        }
    }

    /// The reply to a check decided with the store (a consuming check once its usage is committed).
    func reply(_ result: Result<CheckAnswer, any Error>) -> CheckRoute.Reply {
        switch result {
        case .success(let answer):
            return CheckRoute.reply(answer, live: live)
        case .failure(let error as StoreUnavailable):
            return CheckRoute.Reply(Problem(.serviceUnavailable, "Service Unavailable", error.description))
        case .failure(let error):
            logger.error("request failed", metadata: ["error": "\(error)"])
            return CheckRoute.Reply(Problem(.internalServerError, "Internal Server Error", "the server could not answer; try again"))
        }
    }

    /// The request's log line and metrics, as `RequestLogMiddleware` and `MetricsMiddleware` write them.
    func record(status: HTTPResponse.Status, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        if let metric = metrics[status.code] {
            metric.requests.increment()
            metric.errors?.increment()
            metric.duration.recordNanoseconds(nanoseconds)
        }
        logger.info("request", metadata: [
            "hb.request.id": "\(RequestID())", "http.method": "POST", "http.route": "/v1/check",
            "http.status": "\(status.code)", "latency_ms": "\(String(format: "%.3f", Double(nanoseconds) / 1e6))",
        ])
    }
}

/// The `Date` header's text (RFC 9110's IMF-fixdate), made once a second.
enum HTTPDate {
    private static let cache = NSLock()
    nonisolated(unsafe) private static var second: time_t = 0
    nonisolated(unsafe) private static var text = ""
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        let now = time(nil)
        return cache.withLock {
            if now != second {
                var parts = tm()
                var clock = now
                gmtime_r(&clock, &parts)
                func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
                text = "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
                    + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
                second = now
            }
            return text
        }
    }
}
