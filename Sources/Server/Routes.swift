import Billing
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metering
import NIOCore
import Store

/// Each request's context: Hummingbird's, and the request id every log line carries.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// An RFC 7807 problem: every error the server answers, as `application/problem+json`.
struct Problem: HTTPResponseError, @unchecked Sendable {
    let status: HTTPResponse.Status
    let title: String
    let detail: String
    /// JSON values only (strings, numbers, booleans, arrays, objects): never mutated.
    let extensions: [String: Any]

    init(_ status: HTTPResponse.Status, _ title: String, _ detail: String, extensions: [String: Any] = [:]) {
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: Any] = extensions
        body["type"] = "about:blank"
        body["title"] = title
        body["status"] = Int(status.code)
        body["detail"] = detail
        return JSONResponse.make(status, body, contentType: "application/problem+json")
    }
}

enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ object: Any, contentType: String = "application/json") -> Response {
        let data = JSONText.data(object)
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Logs one structured line per request (request id, method, route, status, latency) and
/// turns thrown errors into problems. Neither the query string nor any header is logged, so a
/// token, API key or usage-link token never reaches a log.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerContext

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
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

/// The routes of DESIGN.md's "The server" that the gateway uses: health, events, the check,
/// entitlement values, usage, the OpenAPI document and metrics. Handlers decode, call the
/// live state, encode.
struct Routes {
    let live: LiveServer

    func register(on router: Router<ServerContext>) {
        router.get("/healthz") { _, _ in try await health() }
        router.get("/openapi.yaml") { _, _ in openAPI() }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: live.metrics.text())))
        }
        router.post("/v1/events") { request, _ in
            try authorize(request, .ingest)
            return try await events(request)
        }
        router.post("/v1/check") { request, _ in
            try authorize(request, .check)
            return try await check(request)
        }
        router.get("/v1/customers/:key/entitlements/:feature/value") { request, context in
            try authorize(request, .check)
            let key = try context.parameters.require("key"), feature = try context.parameters.require("feature")
            return JSONResponse.make(.ok, try await entitlementValue(customerKey: key, feature: feature))
        }
        router.get("/v1/customers/:key/access") { request, context in
            try authorize(request, .check)
            return try await access(customerKey: try context.parameters.require("key"))
        }
        router.get("/v1/customers/:key/usage") { request, context in
            try authorize(request, .admin)
            return try await usage(customerKey: try context.parameters.require("key"))
        }
    }

    // MARK: Credentials

    /// The route's scope from `Authorization: Bearer tbt_...`: none, unknown or revoked is 401,
    /// another scope 403. An admin token may call every route.
    func authorize(_ request: Request, _ scope: TokenScope) throws {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem(.unauthorized, "Unauthorized", "send a service token: Authorization: Bearer tbt_...")
        }
        guard let token = live.state.token(secret: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else {
            throw Problem(.unauthorized, "Unauthorized", "the service token is unknown or revoked")
        }
        guard token.scope == scope || token.scope == .admin else {
            throw Problem(.forbidden, "Forbidden", "this route needs a token of scope \(scope.rawValue); this one has \(token.scope.rawValue)")
        }
    }

    // MARK: Health

    func health() async throws -> Response {
        do {
            _ = try await live.worker.run { store in try store.dataVersion() }
            return JSONResponse.make(.ok, ["status": "ok"])
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
        return JSONResponse.make(.accepted, [
            "accepted": summary.accepted, "duplicate": summary.duplicates, "rejected": summary.rejected,
            "errors": summary.rejections.map { ["index": $0.line - 1, "reason": $0.reason] as [String: Any] },
        ])
    }

    // MARK: Checks

    func check(_ request: Request) async throws -> Response {
        let body = try await self.body(request)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw Problem(.badRequest, "Bad Request", "the body must be a JSON object: {\"apiKey\" or \"subject\", \"feature\", \"units\", \"consume\"}")
        }
        let apiKey = object["apiKey"] as? String, subject = object["subject"] as? String
        guard (apiKey == nil) != (subject == nil) else {
            throw Problem(.unprocessableContent, "Unprocessable Content", "give exactly one of apiKey and subject", extensions: ["field": "apiKey"])
        }
        guard let feature = object["feature"] as? String, !feature.isEmpty else {
            throw Problem(.unprocessableContent, "Unprocessable Content", "feature is required: the feature key the request uses", extensions: ["field": "feature"])
        }
        var check = CheckRequest(apiKey: apiKey, subject: subject, feature: feature)
        if let units = object["units"] {
            guard let number = units as? NSNumber, !(units is Bool), let value = Decimal(string: number.stringValue), value >= 0 else {
                throw Problem(.unprocessableContent, "Unprocessable Content", "units must be a number of at least 0", extensions: ["field": "units"])
            }
            check.units = value
        }
        if let consume = object["consume"] {
            guard let flag = consume as? Bool else {
                throw Problem(.unprocessableContent, "Unprocessable Content", "consume must be true or false", extensions: ["field": "consume"])
            }
            check.consume = flag
        }
        if let key = object["idempotencyKey"] {
            guard let text = key as? String, !text.isEmpty, text.utf8.count <= 200 else {
                throw Problem(.unprocessableContent, "Unprocessable Content", "idempotencyKey must be a non-empty string of at most 200 bytes",
                              extensions: ["field": "idempotencyKey"])
            }
            check.idempotencyKey = text
        }
        if check.consume, check.units > ConsumedUsage.maxCountedUnits || check.units != check.units.rounded(scale: 0),
           let meter = live.meter(feature: feature), meter.aggregation == .count {
            throw Problem(.unprocessableContent, "Unprocessable Content",
                          "a consuming check on the COUNT meter \(meter.slug) records one event per unit: units must be a whole number up to \(ConsumedUsage.maxCountedUnits); report larger amounts as events",
                          extensions: ["field": "units"])
        }
        let answer: CheckAnswer
        do { answer = try await live.check(check) } catch let error as StoreUnavailable {
            throw Problem(.serviceUnavailable, "Service Unavailable", error.description)
        }
        live.metrics.checked(answer)
        let fields = CheckJSON.fields(answer.facts)
        if let denial = answer.denial {
            throw Problem(.forbidden, denial.reason.prefix(1).uppercased() + denial.reason.dropFirst(), denial.description,
                          extensions: fields.merging(["allowed": false]) { $1 })
        }
        return JSONResponse.make(.ok, fields.merging(["allowed": true]) { $1 })
    }

    /// OpenMeter's EntitlementValue of one feature for a customer.
    func entitlementValue(customerKey: String, feature: String) async throws -> [String: Any] {
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
        var entitlements: [String: Any] = [:]
        for feature in features {
            entitlements[feature] = try await entitlementValue(customerKey: customerKey, feature: feature)
        }
        return JSONResponse.make(.ok, ["customer": customerKey, "entitlements": entitlements])
    }

    func usage(customerKey: String) async throws -> Response {
        let snapshot = live.state.current
        guard snapshot.customers[customerKey] != nil else { throw Problem(.notFound, "Not Found", "no customer \(customerKey)") }
        let now = live.now()
        guard let subscription = snapshot.subscriptions[customerKey]?.last(where: { $0.window(at: now) != nil }),
              let window = subscription.window(at: now) else {
            return JSONResponse.make(.ok, ["customer": customerKey, "subscription": NSNull(), "features": [Any]()])
        }
        var features: [[String: Any]] = []
        for card in window.phase.rateCards {
            guard let feature = card.featureKey, card.meteredEntitlement != nil else { continue }
            let answer = try await live.check(CheckRequest(customerKey: customerKey, feature: feature, units: 0))
            var fields = CheckJSON.fields(answer.facts)
            fields["hasAccess"] = answer.allowed
            features.append(fields)
        }
        return JSONResponse.make(.ok, ["customer": customerKey, "subscription": subscription.id, "plan": subscription.plan.key,
                                      "planVersion": subscription.plan.version, "features": features])
    }
}

/// The check's figures as JSON: quantities as JSON numbers (exact decimal text), instants as
/// RFC 3339; usage figures absent for an unmetered feature.
enum CheckJSON {
    static func fields(_ facts: CheckFacts) -> [String: Any] {
        var fields: [String: Any] = ["feature": facts.feature]
        if let customer = facts.customer { fields["customer"] = customer }
        if let subject = facts.subject { fields["subject"] = subject }
        if let subscription = facts.subscription { fields["subscription"] = subscription }
        if let plan = facts.plan { fields["plan"] = plan }
        if let usage = facts.usage { fields["usage"] = NSDecimalNumber(decimal: usage) }
        if let limit = facts.limit { fields["limit"] = NSDecimalNumber(decimal: limit) }
        if let balance = facts.balance { fields["balance"] = NSDecimalNumber(decimal: balance) }
        if let overage = facts.overage { fields["overage"] = NSDecimalNumber(decimal: overage) }
        if let soft = facts.isSoftLimit { fields["isSoftLimit"] = soft }
        if let period = facts.period {
            fields["periodStart"] = period.start.rfc3339
            fields["periodEnd"] = period.end.rfc3339
        }
        return fields
    }

    static func entitlementValue(_ answer: CheckAnswer) -> [String: Any] {
        var value: [String: Any] = ["hasAccess": answer.allowed]
        if let balance = answer.facts.balance { value["balance"] = NSDecimalNumber(decimal: balance) }
        if let usage = answer.facts.usage { value["usage"] = NSDecimalNumber(decimal: usage) }
        if let overage = answer.facts.overage { value["overage"] = NSDecimalNumber(decimal: overage) }
        if let config = answer.facts.config { value["config"] = config }
        if let denial = answer.denial { value["reason"] = denial.description }
        return value
    }
}
