import Billing
import Foundation

/// Where Stripe sends events: registered once, on `stripe connect`.
public struct WebhookEndpoint: StripeObject, Hashable {
    public var id: String
    public var url: String
    public var enabledEvents: [String]
    public var apiVersion: String?
    /// `enabled` or `disabled`.
    public var status: String
    public var description: String?
    public var created: Int64
    public var livemode: Bool
    public var metadata: [String: String]
    /// The signing secret: in the answer to the create call only, never again.
    public var secret: WebhookSecret?
}

/// POST /v1/webhook_endpoints.
public struct WebhookEndpointCreate: Hashable, Sendable, FormEncodable {
    public var url: String
    public var enabledEvents: [String]
    /// The version events are rendered in: the client's own by default, so that they decode.
    public var apiVersion: String
    public var description: String?
    public var metadata: [String: String]?

    public init(url: String, enabledEvents: [String], apiVersion: String = StripeConfiguration.apiVersion,
                description: String? = nil, metadata: [String: String]? = nil) {
        self.url = url
        self.enabledEvents = enabledEvents
        self.apiVersion = apiVersion
        self.description = description
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("url", url)
        form.add("enabled_events", list: enabledEvents)
        form.add("api_version", apiVersion)
        form.add("description", description)
        form.add("metadata", map: metadata)
    }
}

/// POST /v1/webhook_endpoints/{id}: only the fields set are changed.
public struct WebhookEndpointUpdate: Hashable, Sendable, FormEncodable {
    public var url: String?
    public var enabledEvents: [String]?
    public var disabled: Bool?
    public var description: String?
    public var metadata: [String: String]?

    public init(url: String? = nil, enabledEvents: [String]? = nil, disabled: Bool? = nil, description: String? = nil,
                metadata: [String: String]? = nil) {
        self.url = url
        self.enabledEvents = enabledEvents
        self.disabled = disabled
        self.description = description
        self.metadata = metadata
    }

    public func encode(into form: inout Form) {
        form.add("url", url)
        form.add("enabled_events", list: enabledEvents)
        form.add("disabled", disabled)
        form.add("description", description)
        form.add("metadata", map: metadata)
    }
}

/// A Stripe event, from a webhook delivery or GET /v1/events. The object it carries depends on
/// its `type`: decode it with `object(as:)`.
public struct Event: StripeObject, Hashable {
    public struct Request: Hashable, Sendable, Decodable {
        public var id: String?
        public var idempotencyKey: String?
    }

    public struct Payload: Hashable, Sendable, Decodable {
        public var object: JSONValue
        public var previousAttributes: JSONValue?
    }

    public var id: String
    /// `invoice.paid`, `checkout.session.completed`…
    public var type: String
    public var created: Int64
    public var livemode: Bool
    public var apiVersion: String?
    public var pendingWebhooks: Int
    public var request: Request?
    public var account: String?
    public var data: Payload

    /// An event from a webhook delivery's body (verify its signature first).
    public static func decode(_ body: Data) throws(StripeError) -> Event {
        try StripeJSON.decode(Event.self, from: body, call: "webhook delivery", requestId: nil)
    }

    /// `data.object`'s own `object` field: `invoice`, `checkout.session`…
    public var objectType: String? { data.object["object"]?.string }

    /// `data.object` as `type` (`Invoice.self` for an `invoice.*` event).
    public func object<T: Decodable>(as type: T.Type) throws(StripeError) -> T {
        let bytes: Data
        do {
            bytes = try JSONEncoder().encode(data.object)
        } catch {
            throw StripeError(kind: .decoding, message: "event \(id)'s object could not be re-encoded: \(error)")
        }
        return try StripeJSON.decode(type, from: bytes, call: "event \(id) (\(self.type))", requestId: nil)
    }
}

/// GET /v1/events.
public struct EventListQuery: Hashable, Sendable, PagedQuery {
    /// One type, or a few (`types[]`); Stripe takes one or the other.
    public var types: [String]
    public var page: Page

    public init(types: [String] = [], page: Page = Page()) {
        self.types = types
        self.page = page
    }

    public func encode(into form: inout Form) {
        if types.count == 1 { form.add("type", types[0]) } else { form.add("types", list: types.isEmpty ? nil : types) }
        page.encode(into: &form)
    }
}

extension StripeClient {
    /// The answer holds the endpoint's signing secret, once: keep it.
    public func createWebhookEndpoint(_ params: WebhookEndpointCreate, idempotencyKey: String) throws(StripeError) -> WebhookEndpoint {
        try post("/v1/webhook_endpoints", params, idempotencyKey: idempotencyKey)
    }

    public func listWebhookEndpoints(_ page: Page = Page()) throws(StripeError) -> StripeList<WebhookEndpoint> {
        try get("/v1/webhook_endpoints", page)
    }

    public func retrieveWebhookEndpoint(_ id: String) throws(StripeError) -> WebhookEndpoint {
        try call(.get, StripeClient.path("/v1/webhook_endpoints", id))
    }

    public func updateWebhookEndpoint(_ id: String, _ params: WebhookEndpointUpdate, idempotencyKey: String) throws(StripeError) -> WebhookEndpoint {
        try post(StripeClient.path("/v1/webhook_endpoints", id), params, idempotencyKey: idempotencyKey)
    }

    /// Removes an endpoint (when it is replaced by one with a new signing secret); Stripe stops
    /// delivering to it at once.
    public func deleteWebhookEndpoint(_ id: String) throws(StripeError) {
        let _: DeletedObject = try call(.delete, StripeClient.path("/v1/webhook_endpoints", id))
    }

    /// Needs `rak_event_read`, which is not among the eight permissions: the collect stage reads
    /// invoices instead.
    public func retrieveEvent(_ id: String) throws(StripeError) -> Event {
        try call(.get, StripeClient.path("/v1/events", id))
    }

    public func listEvents(_ query: EventListQuery = EventListQuery()) throws(StripeError) -> StripeList<Event> {
        try get("/v1/events", query)
    }
}

/// What Stripe answers a DELETE with.
public struct DeletedObject: Decodable, Hashable, Sendable {
    public var id: String
    public var deleted: Bool
}
