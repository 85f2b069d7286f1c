import Billing
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Pipeline
import Store

/// The usage routes: the usage JSON (admin), signed usage links (admin) and the customer's
/// usage page, which the link's token opens.
extension Routes {
    func usage(customerKey: String) async throws -> Response {
        guard let report = try await live.usageReport(customerKey: customerKey, reader: try reader.worker(for: live)) else {
            throw Problem(.notFound, "Not Found", "no customer \(customerKey)")
        }
        return JSONResponse.make(.ok, text: UsageJSON.report(report).compact)
    }

    /// `POST /v1/customers/{key}/usage-link` with `{"ttl"?}` (ISO 8601, default P7D):
    /// `{"url", "expiresAt"}`. The link's base is `server.publicUrl`, else the host the request
    /// came to.
    func usageLink(_ request: Request, customerKey: String) async throws -> Response {
        let body = try await self.body(request)
        var ttl = UsageLink.defaultTTL
        if !body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard let object = try? JSONValue.parse(Data(body)), case .object = object else {
                throw Problem(.badRequest, "Bad Request", "the body must be a JSON object: {\"ttl\": \"P7D\"}, or empty")
            }
            switch object["ttl"] {
            case nil, .null?: break
            case .string(let text)? where ISODuration(text) != nil: ttl = ISODuration(text)!
            default:
                throw Problem(.unprocessableContent, "Unprocessable Content", "ttl must be an ISO 8601 duration such as P7D or PT12H",
                              extensions: [("field", .string("ttl"))])
            }
        }
        let now = live.now(), lifetime = ttl
        let base = live.settings.server.publicUrl ?? "http://" + (request.head.authority ?? live.settings.server.listen)
        do {
            let link = try await live.worker.run { store in
                try UsageLink.make(store: store, customerKey: customerKey, ttl: lifetime, base: base, now: now)
            }
            return JSONResponse.make(.ok, .object([("url", .string(link.url)), ("expiresAt", .string(link.expiresAt.rfc3339))]))
        } catch let error as UsageLinkError {
            switch error {
            case .unknownCustomer: throw Problem(.notFound, "Not Found", "no customer \(customerKey)")
            case .ttl(let message): throw Problem(.unprocessableContent, "Unprocessable Content", message, extensions: [("field", .string("ttl"))])
            }
        }
    }

    /// `GET /portal/usage?token=...`: the customer's usage page. A missing, malformed or
    /// tampered token is 401, an expired one 403.
    func usagePage(_ request: Request) async throws -> Response {
        guard let token = request.uri.queryParameters["token"].map(String.init), !token.isEmpty else {
            throw Problem(.unauthorized, "Unauthorized", "this page opens with the token of a usage link (tollbooth customers usage-link)")
        }
        let now = live.now()
        let key = try await live.worker.run { store in try store.usageLinkKey(orStore: UsageLink.freshKey(), at: now) }
        let customerKey: String
        switch UsageLink.verify(token, key: key, now: now) {
        case .success(let customer): customerKey = customer
        case .failure(.invalid):
            throw Problem(.unauthorized, "Unauthorized", "the usage link is not valid; ask for a new one")
        case .failure(.expired(let at)):
            throw Problem(.forbidden, "Forbidden", "the usage link expired at \(at.rfc3339); ask for a new one")
        }
        guard let report = try await live.usageReport(customerKey: customerKey, reader: try reader.worker(for: live)) else {
            throw Problem(.forbidden, "Forbidden", "the usage link names no customer of this installation")
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // The token is in the address: never sent on as a referrer. The page runs no script.
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: UsagePage.html(report))))
    }
}
