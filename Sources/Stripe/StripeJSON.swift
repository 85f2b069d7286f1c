import Foundation

/// How Stripe's answers are read: `Decodable` with snake_case keys, unknown fields ignored,
/// nullable or absent fields optional. Stripe's amounts are integers of minor units and its
/// decimal values are strings, so no amount ever passes through a binary float.
enum StripeJSON {
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// `type` decoded from `data`, or a decoding error that names the field that did not fit.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, call: String, requestId: String?) throws(StripeError) -> T {
        do {
            return try decoder().decode(type, from: data)
        } catch {
            var failure = StripeError(kind: .decoding, message: "not a \(T.self): \(explain(error))", call: call)
            failure.requestId = requestId
            throw failure
        }
    }

    static func explain(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
        case .valueNotFound(_, let context): return "\(path(context)) is null"
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(type)"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// One page of a list: `data`, and whether more follow (`starting_after` the last id).
public struct StripeList<Item: Decodable & Sendable>: Decodable, Sendable {
    public var data: [Item]
    public var hasMore: Bool
    public var url: String?

    public init(data: [Item], hasMore: Bool, url: String? = nil) {
        self.data = data
        self.hasMore = hasMore
        self.url = url
    }
}

extension StripeList: Equatable where Item: Equatable {}
extension StripeList: Hashable where Item: Hashable {}

/// A list's paging: at most `limit` (1 to 100, Stripe's default 10) after the object
/// `startingAfter`.
public struct Page: Hashable, Sendable, PagedQuery {
    public var limit: Int?
    public var startingAfter: String?

    public init(limit: Int? = nil, startingAfter: String? = nil) {
        self.limit = limit
        self.startingAfter = startingAfter
    }

    public var page: Page {
        get { self }
        set { self = newValue }
    }

    public func encode(into form: inout Form) {
        form.add("limit", limit)
        form.add("starting_after", startingAfter)
    }
}

/// A list's query, whose page the client moves on to walk every page.
public protocol PagedQuery: FormEncodable {
    var page: Page { get set }
}

/// A span of time in Unix seconds, as Stripe writes an invoice line's or item's period.
public struct StripePeriod: Hashable, Sendable, Decodable, FormEncodable {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public func encode(into form: inout Form) {
        form.add("start", start)
        form.add("end", end)
    }
}

/// A postal address, every part optional as Stripe has it.
public struct Address: Hashable, Sendable, Decodable, FormEncodable {
    public var line1: String?
    public var line2: String?
    public var city: String?
    public var state: String?
    public var postalCode: String?
    /// ISO 3166-1 alpha-2.
    public var country: String?

    public init(line1: String? = nil, line2: String? = nil, city: String? = nil, state: String? = nil,
                postalCode: String? = nil, country: String? = nil) {
        self.line1 = line1
        self.line2 = line2
        self.city = city
        self.state = state
        self.postalCode = postalCode
        self.country = country
    }

    public func encode(into form: inout Form) {
        form.add("line1", line1)
        form.add("line2", line2)
        form.add("city", city)
        form.add("state", state)
        form.add("postal_code", postalCode)
        form.add("country", country)
    }
}


