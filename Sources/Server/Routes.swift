import Billing
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metering
import NIOCore
import Pipeline
import Store

/// Each request's context: Hummingbird's, and the request id every log line carries.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// An RFC 7807 problem: every error the server answers, as `application/problem+json`.
struct Problem: HTTPResponseError {
    let status: HTTPResponse.Status
    let title: String
    let detail: String
    let extensions: [(String, JSONValue)]

    init(_ status: HTTPResponse.Status, _ title: String, _ detail: String, extensions: [(String, JSONValue)] = []) {
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions
    }

    static let contentType = "application/problem+json"

    /// The problem's JSON text.
    var text: String {
        let members: [(String, JSONValue)] = [("type", .string("about:blank")), ("title", .string(title)),
                                              ("status", .number(String(status.code))), ("detail", .string(detail))]
        return JSONValue.object(members + extensions.filter { name, _ in !members.contains { $0.0 == name } }).text()
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONResponse.make(status, text: text, contentType: Problem.contentType)
    }
}

enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ value: JSONValue, contentType: String = "application/json") -> Response {
        make(status, text: value.text(), contentType: contentType)
    }

    /// A JSON text already written (the usage report, whose invoice comes from Pipeline's JSON).
    static func make(_ status: HTTPResponse.Status, text: String, contentType: String = "application/json") -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension JSONValue {
    static func decimal(_ value: Decimal) -> JSONValue { .number(value.plainString) }
    static func int(_ value: Int) -> JSONValue { .number(String(value)) }
}

/// Logs one structured line per request (request id, method, route, status, latency) and
/// turns thrown errors into problems. Neither the query string nor any header is logged, so a
/// token, API key or usage-link token never reaches a log.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let routes: RouteTable

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as HTTPResponseError where error.status == .notFound && context.endpointPath == "NotFound"
            && !routes.methods(for: request.uri.path).isEmpty {
            // No route for this method on a path that has routes: 405, naming the methods it has.
            let allowed = routes.methods(for: request.uri.path).joined(separator: ", ")
            response = try Problem(.methodNotAllowed, "Method Not Allowed", "\(request.uri.path) answers \(allowed)")
                .response(from: request, context: context)
            response.headers[.allow] = allowed
        } catch let problem as Problem {
            response = try problem.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            response = try Problem(error.status, error.status.reasonPhrase, "\(error.status.reasonPhrase)").response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            response = try Problem(.internalServerError, "Internal Server Error", "the server could not answer; try again")
                .response(from: request, context: context)
        }
        let elapsed = ContinuousClock.now - started
        let millis = Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info("request", metadata: [
            "http.method": "\(request.method)", "http.route": "\(context.endpointPath ?? request.uri.path)",
            "http.status": "\(response.status.code)", "latency_ms": "\(String(format: "%.3f", millis))",
        ])
        return response
    }
}

/// Every route's method and path template (`:name` matching one segment): which methods a path
/// answers, for a 405.
final class RouteTable: @unchecked Sendable {
    private var routes: [(method: HTTPRequest.Method, segments: [Substring])] = []

    /// Called while the routes are registered, before the server starts.
    func add(_ method: HTTPRequest.Method, _ path: String) {
        routes.append((method, path.split(separator: "/")))
    }

    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/")
        let matching = routes.filter { route in
            route.segments.count == segments.count && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }
        return Array(Set(matching.map(\.method.rawValue))).sorted()
    }
}

/// The routes of DESIGN.md's "The server" that the gateway uses: health, events, the check,
/// entitlement values, usage and the usage page (UsageRoutes.swift), the OpenAPI document and
/// metrics. Handlers decode, call the live state, encode.
struct Routes {
    let live: LiveServer
    let stripe: StripeLink
    let table: RouteTable
    let reader = ReportReader()

    /// Registers every route, each also in `table` (what a 405 names as allowed).
    func register(on router: Router<ServerContext>) {
        add(.get, "/healthz", to: router) { _, _ in try await health() }
        add(.get, "/openapi.yaml", to: router) { _, _ in openAPI() }
        add(.get, "/metrics", to: router) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: live.metrics.text())))
        }
        add(.post, "/v1/events", to: router) { request, _ in
            try authorize(request, .ingest)
            return try await events(request)
        }
        add(.post, "/v1/check", to: router) { request, _ in
            try authorize(request, .check)
            return try await check(request)
        }
        add(.get, "/v1/customers/:key/entitlements/:feature/value", to: router) { request, context in
            try authorize(request, .check)
            let key = try context.parameters.require("key"), feature = try context.parameters.require("feature")
            return JSONResponse.make(.ok, try await entitlementValue(customerKey: key, feature: feature))
        }
        add(.get, "/v1/customers/:key/access", to: router) { request, context in
            try authorize(request, .check)
            return try await access(customerKey: try context.parameters.require("key"))
        }
        add(.get, "/v1/customers/:key/usage", to: router) { request, context in
            try authorize(request, .admin)
            return try await usage(customerKey: try context.parameters.require("key"))
        }
        add(.post, "/v1/customers/:key/usage-link", to: router) { request, context in
            try authorize(request, .admin)
            return try await usageLink(request, customerKey: try context.parameters.require("key"))
        }
        add(.get, "/portal/usage", to: router) { request, _ in try await usagePage(request) }
        add(.get, "/portal/checkout/done", to: router) { _, _ in CheckoutPage.response(saved: true) }
        add(.get, "/portal/checkout/cancelled", to: router) { request, _ in try await checkoutCancelled(request) }

        add(.post, StripeSetup.webhookPath, to: router) { request, _ in try await webhook(request) }
        add(.post, "/setup/stripe", to: router) { request, _ in
            try authorize(request, .admin)
            return try await setupStripe(request)
        }
        add(.get, "/billing-readiness", to: router) { request, _ in
            try authorize(request, .admin)
            return try await billingReadiness(request)
        }
        add(.post, "/setup/stripe/rotate-key", to: router) { request, _ in
            try authorize(request, .admin)
            return try await rotateStripeKey(request)
        }

        add(.post, "/v1/subscriptions", to: router) { request, _ in
            try authorize(request, .admin)
            return try await subscribe(request)
        }
        add(.get, "/v1/subscriptions/:id", to: router) { request, context in
            try authorize(request, .admin)
            return try await subscription(id: try context.parameters.require("id"))
        }
        add(.post, "/v1/subscriptions/:id/change", to: router) { request, context in
            try authorize(request, .admin)
            return try await changeSubscription(request, id: try context.parameters.require("id"))
        }
        add(.post, "/v1/subscriptions/:id/cancel", to: router) { request, context in
            try authorize(request, .admin)
            return try await cancelSubscription(request, id: try context.parameters.require("id"))
        }
        add(.post, "/v1/subscriptions/:id/reactivate", to: router) { request, context in
            try authorize(request, .admin)
            return try await reactivateSubscription(id: try context.parameters.require("id"))
        }
        add(.post, "/v1/customers/:key/portal-session", to: router) { request, context in
            try authorize(request, .admin)
            return try await portalSession(request, customerKey: try context.parameters.require("key"))
        }
        add(.get, "/v1/customers/:key/api-keys", to: router) { request, context in
            try authorize(request, .admin)
            return try await apiKeys(customerKey: try context.parameters.require("key"))
        }
        add(.post, "/v1/customers/:key/api-keys", to: router) { request, context in
            try authorize(request, .admin)
            return try await createAPIKey(customerKey: try context.parameters.require("key"))
        }
        add(.delete, "/v1/customers/:key/api-keys/:keyId", to: router) { request, context in
            try authorize(request, .admin)
            return try await revokeAPIKey(customerKey: try context.parameters.require("key"), id: try context.parameters.require("keyId"))
        }
    }

    private func add(_ method: HTTPRequest.Method, _ path: String, to router: Router<ServerContext>,
                     _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response) {
        table.add(method, path)
        router.on(RouterPath(path), method: method, use: handler)
    }

    // MARK: Credentials

    /// The route's scope from `Authorization: Bearer tbt_...`: none, unknown or revoked is 401,
    /// another scope 403. An admin token may call every route.
    func authorize(_ request: Request, _ scope: TokenScope) throws {
        try live.authorize(request.headers, scope)
    }

    // MARK: Health

    func health() async throws -> Response {
        do {
            _ = try await live.worker.run { store in try store.dataVersion() }
            return JSONResponse.make(.ok, .object([("status", .string("ok"))]))
        } catch {
            throw Problem(.serviceUnavailable, "Service Unavailable", "the store does not answer")
        }
    }

    func openAPI() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.text)))
    }

    // MARK: Events

    func body(_ request: Request) async throws -> [UInt8] {
        let limit = live.settings.server.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Problem(.contentTooLarge, "Content Too Large", "the body is \(length) bytes; at most \(limit) are accepted (server.maxBodyBytes)")
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "Content Too Large", "the body is over \(limit) bytes (server.maxBodyBytes)")
        }
    }

    func events(_ request: Request) async throws -> Response {
        let contentType = (request.headers[.contentType] ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let body = try await self.body(request)
        var lines: [[UInt8]]
        do {
            if request.headers[HTTPField.Name("ce-id")!] != nil || request.headers[HTTPField.Name("ce-specversion")!] != nil {
                var attributes: [String: String] = [:]
                for field in request.headers where field.name.canonicalName.hasPrefix("ce-") {
                    attributes[field.name.canonicalName] = field.value
                }
                lines = [try EventBody.binary(headers: attributes, body: body)]
            } else if contentType == "application/cloudevents-batch+json" {
                lines = try EventBody.batched(body)
            } else if contentType == "application/cloudevents+json" || contentType == "application/json" {
                lines = [try EventBody.structured(body)]
            } else {
                throw Problem(.unsupportedMediaType, "Unsupported Media Type",
                              "send application/cloudevents+json (one event), application/cloudevents-batch+json (an array) or ce- headers (binary mode)")
            }
        } catch let error as EventBody.Unparseable {
            throw Problem(.badRequest, "Bad Request", "the body is not valid JSON: \(error.description); nothing was stored")
        }
        let summary: IngestSummary
        do { summary = try await live.ingest(lines: lines) } catch let error as StoreUnavailable {
            throw Problem(.serviceUnavailable, "Service Unavailable", error.description)
        }
        return JSONResponse.make(.accepted, .object([
            ("accepted", .int(summary.accepted)), ("duplicate", .int(summary.duplicates)), ("rejected", .int(summary.rejected)),
            ("errors", .array(summary.rejections.map { .object([("index", .int($0.line - 1)), ("reason", .string($0.reason))]) })),
        ]))
    }

    // MARK: Checks

    func check(_ request: Request) async throws -> Response {
        let check = try CheckRoute.request(from: try await body(request), live: live)
        let reply: CheckRoute.Reply
        do { reply = CheckRoute.reply(try await live.check(check), live: live) } catch let error as StoreUnavailable {
            throw Problem(.serviceUnavailable, "Service Unavailable", error.description)
        }
        // A denial is thrown like every other problem, so the log and metrics count it as one.
        if let problem = reply.problem { throw problem }
        return JSONResponse.make(reply.status, text: reply.text, contentType: reply.contentType)
    }

    /// OpenMeter's EntitlementValue of one feature for a customer.
    func entitlementValue(customerKey: String, feature: String) async throws -> JSONValue {
        guard live.state.current.customers[customerKey] != nil else {
            throw Problem(.notFound, "Not Found", "no customer \(customerKey)")
        }
        let answer = try await live.check(CheckRequest(customerKey: customerKey, feature: feature, units: 0))
        return CheckJSON.entitlementValue(answer)
    }

    func access(customerKey: String) async throws -> Response {
        let snapshot = live.state.current
        guard snapshot.customers[customerKey] != nil else { throw Problem(.notFound, "Not Found", "no customer \(customerKey)") }
        let now = live.now()
        let subscription = snapshot.subscriptions[customerKey]?.last { $0.window(at: now) != nil }
        let features = subscription?.window(at: now)?.phase.rateCards.compactMap(\.featureKey) ?? []
        var entitlements: [(String, JSONValue)] = []
        for feature in features {
            entitlements.append((feature, try await entitlementValue(customerKey: customerKey, feature: feature)))
        }
        return JSONResponse.make(.ok, .object([("customer", .string(customerKey)), ("entitlements", .object(entitlements))]))
    }
}

/// The check's figures as JSON: quantities as JSON numbers (exact decimal text), instants as
/// RFC 3339; usage figures absent for an unmetered feature.
enum CheckJSON {
    static func fields(_ facts: CheckFacts) -> [(String, JSONValue)] {
        var fields: [(String, JSONValue)] = [("feature", .string(facts.feature))]
        if let customer = facts.customer { fields.append(("customer", .string(customer))) }
        if let subject = facts.subject { fields.append(("subject", .string(subject))) }
        if let subscription = facts.subscription { fields.append(("subscription", .string(subscription))) }
        if let plan = facts.plan { fields.append(("plan", .string(plan))) }
        if let usage = facts.usage { fields.append(("usage", .decimal(usage))) }
        if let limit = facts.limit { fields.append(("limit", .decimal(limit))) }
        if let balance = facts.balance { fields.append(("balance", .decimal(balance))) }
        if let overage = facts.overage { fields.append(("overage", .decimal(overage))) }
        if let soft = facts.isSoftLimit { fields.append(("isSoftLimit", .bool(soft))) }
        if let period = facts.period {
            fields.append(("periodStart", .string(period.start.rfc3339)))
            fields.append(("periodEnd", .string(period.end.rfc3339)))
        }
        return fields
    }

    /// An allowed check's body: `{"allowed": true}` and `fields`, written directly in the
    /// order `JSONValue.text` sorts them into (the gateway asks for one per API request).
    static func allowedText(_ facts: CheckFacts) -> String {
        var out = [UInt8]()
        out.reserveCapacity(400)
        out.append(contentsOf: "{\"allowed\":true".utf8)
        if let template = facts.allowedTemplate, let balance = facts.balance, let overage = facts.overage, let usage = facts.usage {
            out.append(contentsOf: ",\"balance\":".utf8)
            out.append(contentsOf: balance.plainString.utf8)
            out.append(contentsOf: template.afterBalance)
            out.append(contentsOf: overage.plainString.utf8)
            out.append(contentsOf: template.afterOverage)
            out.append(contentsOf: usage.plainString.utf8)
        } else {
            for member in Member.allCases { append(member, of: facts, to: &out) }
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The allowed reply's members, in the order `JSONValue.text` sorts them into.
    enum Member: String, CaseIterable {
        case balance, customer, feature, isSoftLimit, limit, overage, periodEnd, periodStart, plan, subject, subscription, usage
    }

    /// `,"name":value` when the facts have the member.
    static func append(_ member: Member, of facts: CheckFacts, to out: inout [UInt8]) {
        let value: String?, quoted: Bool
        switch member {
        case .balance: (value, quoted) = (facts.balance?.plainString, false)
        case .customer: (value, quoted) = (facts.customer, true)
        case .feature: (value, quoted) = (facts.feature, true)
        case .isSoftLimit: (value, quoted) = (facts.isSoftLimit.map { $0 ? "true" : "false" }, false)
        case .limit: (value, quoted) = (facts.limit?.plainString, false)
        case .overage: (value, quoted) = (facts.overage?.plainString, false)
        case .periodEnd: (value, quoted) = (facts.period?.end.rfc3339, true)
        case .periodStart: (value, quoted) = (facts.period?.start.rfc3339, true)
        case .plan: (value, quoted) = (facts.plan, true)
        case .subject: (value, quoted) = (facts.subject, true)
        case .subscription: (value, quoted) = (facts.subscription, true)
        case .usage: (value, quoted) = (facts.usage?.plainString, false)
        }
        guard let value else { return }
        out.append(contentsOf: ",\"".utf8)
        out.append(contentsOf: member.rawValue.utf8)
        out.append(contentsOf: "\":".utf8)
        guard quoted else { return out.append(contentsOf: value.utf8) }
        // Most texts need no escape: appended whole.
        if value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            var text = ""
            JSONText.quote(value, into: &text)
            out.append(contentsOf: text.utf8)
        } else {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: value.utf8)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// A metered check's allowed reply apart from its three figures that move with usage
    /// (balance, overage, usage), written once when the check is resolved: the text after the
    /// balance up to the overage's value, and after it up to the usage's value.
    final class AllowedTemplate: Sendable {
        let afterBalance: [UInt8]
        let afterOverage: [UInt8]

        init(_ fixed: CheckFacts) {
            var afterBalance = [UInt8](), afterOverage = [UInt8]()
            for member in [Member.customer, .feature, .isSoftLimit, .limit] { CheckJSON.append(member, of: fixed, to: &afterBalance) }
            afterBalance.append(contentsOf: ",\"overage\":".utf8)
            for member in [Member.periodEnd, .periodStart, .plan, .subject, .subscription] { CheckJSON.append(member, of: fixed, to: &afterOverage) }
            afterOverage.append(contentsOf: ",\"usage\":".utf8)
            self.afterBalance = afterBalance
            self.afterOverage = afterOverage
        }
    }

    static func entitlementValue(_ answer: CheckAnswer) -> JSONValue {
        var value: [(String, JSONValue)] = [("hasAccess", .bool(answer.allowed))]
        if let balance = answer.facts.balance { value.append(("balance", .decimal(balance))) }
        if let usage = answer.facts.usage { value.append(("usage", .decimal(usage))) }
        if let overage = answer.facts.overage { value.append(("overage", .decimal(overage))) }
        if let config = answer.facts.config { value.append(("config", .string(config))) }
        if let denial = answer.denial { value.append(("reason", .string(denial.description))) }
        return .object(value)
    }
}
