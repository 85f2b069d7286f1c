import Billing
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Pipeline
import Store
import Stripe

/// A request body as a JSON object, its fields read with one clear problem per wrong field.
struct JSONBody {
    let members: JSONValue

    /// An empty body is an empty object; anything but a JSON object is 400.
    init(_ bytes: [UInt8]) throws {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            members = .object([])
            return
        }
        guard let value = try? JSONValue.parse(Data(bytes)), case .object = value else {
            throw Problem(.badRequest, "Bad Request", "the body must be a JSON object")
        }
        members = value
    }

    /// A string field; nil when absent or null.
    func string(_ name: String) throws -> String? {
        switch members[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw JSONBody.invalid(name, "\(name) must be a string")
        }
    }

    func requiredString(_ name: String) throws -> String {
        guard let text = try string(name), !text.isEmpty else { throw JSONBody.invalid(name, "\(name) is required") }
        return text
    }

    func int(_ name: String) throws -> Int? {
        switch members[name] {
        case nil, .null?: return nil
        case .number(let text)? where Int(text) != nil: return Int(text)!
        default: throw JSONBody.invalid(name, "\(name) must be a whole number")
        }
    }

    static func invalid(_ field: String, _ detail: String) -> Problem {
        Problem(.unprocessableContent, "Unprocessable Content", detail, extensions: [("field", .string(field))])
    }
}

extension Problem {
    /// The HTTP answer to a refusal of the store's rules: 404, 409 or 422 with the field.
    init(_ error: StoreInputError) {
        switch error.kind {
        case .notFound: self.init(.notFound, "Not Found", error.message)
        case .conflict: self.init(.conflict, "Conflict", error.message)
        case .invalid(let field):
            self.init(.unprocessableContent, "Unprocessable Content", error.message, extensions: field.map { [("field", .string($0))] } ?? [])
        }
    }

    /// A Stripe set-up step refused (the key: 422 on `field`; not connected yet: 409) or
    /// failed (502).
    init(_ error: StripeSetupError, field: String = "apiKey") {
        switch error.kind {
        case .notConnected: self.init(.conflict, "Conflict", error.message)
        case .input: self.init(.unprocessableContent, "Unprocessable Content", error.message, extensions: [("field", .string(field))])
        case .failure: self.init(.badGateway, "Bad Gateway", error.message)
        }
    }
}

/// `POST /v1/stripe/webhook` and the set-up API (`POST /setup/stripe`,
/// `GET /billing-readiness`, `POST /setup/stripe/rotate-key`).
extension Routes {
    // MARK: Webhooks

    /// Verifies a delivery against the stored signing secrets (and a retired one for events
    /// signed before it was replaced), stores it in the inbox and answers 200; a bad, stale or
    /// missing signature is 400 and nothing is stored.
    func webhook(_ request: Request) async throws -> Response {
        let body = try await self.body(request)
        guard let header = request.headers[HTTPField.Name("Stripe-Signature")!], !header.isEmpty else {
            live.metrics.webhook("refused")
            throw Problem(.badRequest, "Bad Request", "no Stripe-Signature header: only Stripe's signed deliveries are taken here")
        }
        guard let secrets = try stripe.setup.secretsFile.read(), secrets.webhookSecret != nil else {
            throw Problem(.serviceUnavailable, "Service Unavailable",
                          "no webhook signing secret is stored: connect Stripe (POST /setup/stripe or `tollbooth stripe connect`)")
        }
        // A signature's age is real time, even when `--at` sets the server's business clock:
        // Stripe signs with the time it sends.
        let now = Int64(Date().timeIntervalSince1970)
        let payload = Data(body)
        let signedAt = try? WebhookSignature.parse(header).timestamp
        do {
            try WebhookSignature.verify(payload: payload, header: header,
                                        secrets: secrets.webhookSecrets(signedAt: signedAt, now: now).map(WebhookSecret.init), now: now)
        } catch {
            live.metrics.webhook("refused")
            throw Problem(.badRequest, "Bad Request", error.description)
        }
        guard let event = StripeInbox.inboxEvent(payload: payload, receivedAt: live.now()) else {
            throw Problem(.badRequest, "Bad Request", "the body is signed but is not a Stripe event (id, type, created, data.object)")
        }
        let receipt = try await stripe.receive(event)
        var members: [(String, JSONValue)] = [("id", .string(event.id)), ("type", .string(event.type))]
        switch receipt {
        case .duplicate:
            live.metrics.webhook("duplicate")
            members.append(("duplicate", .bool(true)))
        case .stored(_, let outcome):
            switch outcome {
            case .applied?: live.metrics.webhook("applied")
            case .ignored?: live.metrics.webhook("ignored")
            case .waiting?, nil: live.metrics.webhook("waiting")
            }
            members.append(("duplicate", .bool(false)))
            members.append(("outcome", .string(outcome?.text ?? "waiting: applied after this answer")))
        }
        return JSONResponse.make(.ok, .object(members))
    }

    // MARK: The set-up API

    /// `POST /setup/stripe` `{"apiKey", "name"?}`: `tollbooth stripe connect`.
    func setupStripe(_ request: Request) async throws -> Response {
        let body = try JSONBody(try await self.body(request))
        let key = try body.requiredString("apiKey"), name = try body.string("name")
        let setup = stripe.setup.reached(at: publicBase(request))
        let connection: StripeSetup.Connection
        do {
            connection = try await stripe.worker.run { _ in try setup.connect(keyText: key, name: name) }
        } catch let error as StripeSetupError {
            throw Problem(error)
        }
        var members: [(String, JSONValue)] = [
            ("account", .string(connection.account.id)), ("mode", .string(connection.key.mode.rawValue)),
            ("key", .string("\(connection.key)")),
        ]
        if let endpoint = connection.endpoint {
            members.append(("webhookEndpoint", .object([("id", .string(endpoint.id)), ("url", .string(endpoint.url)),
                                                        ("registered", .bool(connection.registered))])))
        } else {
            members.append(("webhookEndpoint", .null))
        }
        return JSONResponse.make(.ok, .object(members))
    }

    /// `GET /billing-readiness`: `tollbooth stripe readiness` as JSON.
    func billingReadiness(_ request: Request) async throws -> Response {
        let setup = stripe.setup.reached(at: publicBase(request)), environment = stripe.environment
        let checks: [StripeSetup.Check]
        do {
            checks = try await stripe.worker.run { _ in try setup.readiness(environment: environment) }
        } catch let error as StripeSetupError {
            // Not connected: one failed check saying so, as the command prints.
            return JSONResponse.make(.ok, .object([
                ("ready", .bool(false)),
                ("checks", .array([.object([("name", .string("connection")), ("ok", .bool(false)), ("detail", .string(error.message))])])),
            ]))
        }
        return JSONResponse.make(.ok, .object([
            ("ready", .bool(checks.allSatisfy(\.ready))),
            ("checks", .array(checks.map { .object([("name", .string($0.name)), ("ok", .bool($0.ready)), ("detail", .string($0.detail))]) })),
        ]))
    }

    /// `POST /setup/stripe/rotate-key` `{"apiKey"}`: `tollbooth stripe rotate-key`.
    func rotateStripeKey(_ request: Request) async throws -> Response {
        let body = try JSONBody(try await self.body(request))
        let key = try body.requiredString("apiKey")
        let setup = stripe.setup
        let rotation: StripeSetup.Rotation
        do {
            rotation = try await stripe.worker.run { _ in try setup.rotateKey(keyText: key) }
        } catch let error as StripeSetupError {
            throw Problem(error)
        }
        return JSONResponse.make(.ok, .object([("account", .string(rotation.account)), ("key", .string("\(rotation.new)")),
                                               ("previousKey", .string(rotation.old))]))
    }
}

extension Routes {
    /// Checkout's default `cancelUrl`: the customer left without saving a card, so the
    /// subscription waiting for it (`?subscription=`) is cancelled and never starts, even if
    /// the same Checkout Session is completed later.
    func checkoutCancelled(_ request: Request) async throws -> Response {
        if let id = request.uri.queryParameters.get("subscription"), !id.isEmpty {
            let now = live.now()
            try await stripe.run { store in
                try store.endSubscriptionRequest(id: id, status: .cancelled, reason: "the customer left Checkout without saving a card", at: now)
            }
        }
        return CheckoutPage.response(saved: false)
    }
}

/// The pages Checkout sends a customer back to by default (`successUrl`, `cancelUrl` of
/// `POST /v1/subscriptions`): plain HTML saying what happened, no script.
enum CheckoutPage {
    static func response(saved: Bool) -> Response {
        let title = saved ? "Payment method saved" : "Checkout cancelled"
        let text = saved
            ? "Your payment method is saved. Your subscription starts as soon as Stripe confirms it, usually within seconds; you can close this page."
            : "Nothing was saved and no subscription started. You can subscribe again at any time."
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2933}</style></head>
            <body><h1>\(title)</h1><p>\(text)</p></body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
