import Billing

/// A value read from an event's `data` at a meter's JSONPath.
public enum DataValue: Hashable, Sendable {
    case number(MeterNumber)
    case string(String)
    case bool(Bool)
    case null
    /// An object or array: never a meter value, kept so the reason can say what was found.
    case structured
    /// A JSON number that `Decimal` cannot hold exactly (more than 38 digits, exponent beyond 127).
    case unrepresentableNumber

    /// The text a group-by key or UNIQUE_COUNT uses: strings as written, numbers canonical.
    var keyText: String? {
        switch self {
        case .string(let s): return s
        case .number(let n): return n.description
        case .bool(let b): return b ? "true" : "false"
        case .null, .structured, .unrepresentableNumber: return nil
        }
    }
}

/// One accepted usage event, with what its meters read from `data`.
public struct UsageEvent: Hashable, Sendable {
    public var identity: EventIdentity
    public var type: String
    public var subject: String
    public var time: Instant
    /// One entry per `MeterSet.paths` slot; nil where `data` has no value at that path.
    public var values: [DataValue?]
    /// Indices into `MeterSet.meters` of the meters this event feeds (all share its type).
    public var meterIndices: [Int]

    public init(identity: EventIdentity, type: String, subject: String, time: Instant,
                values: [DataValue?], meterIndices: [Int]) {
        self.identity = identity
        self.type = type
        self.subject = subject
        self.time = time
        self.values = values
        self.meterIndices = meterIndices
    }
}

/// Why a line was not accepted. `message` is one line; the caller adds the line number.
public enum Rejection: Hashable, Sendable, CustomStringConvertible {
    case badJSON
    case notAnObject
    case badSpecVersion
    /// `id`, `source`, `type`, `subject` or `time` is absent, empty or not a string.
    case missingField(String)
    case badTime(String)
    case unknownEventType(String)
    case missingValue(meter: String, path: String)
    case nonNumericValue(meter: String, path: String)
    /// UNIQUE_COUNT needs a string or a number.
    case uncountableValue(meter: String, path: String)
    case unrepresentableValue(meter: String, path: String)

    public var message: String {
        switch self {
        case .badJSON: return "not valid JSON"
        case .notAnObject: return "not a JSON object"
        case .badSpecVersion: return "specversion must be \"1.0\""
        case .missingField(let name): return "required field \(name) is missing, empty or not a string"
        case .badTime(let text): return "time \"\(text.prefix(40))\" is not an RFC 3339 timestamp"
        case .unknownEventType(let type): return "unknown event type \"\(type.prefix(80))\": no meter has this eventType"
        case .missingValue(let meter, let path): return "meter \(meter): no value at \(path) in data"
        case .nonNumericValue(let meter, let path): return "meter \(meter): value at \(path) is not a number"
        case .uncountableValue(let meter, let path): return "meter \(meter): value at \(path) is not a string or number"
        case .unrepresentableValue(let meter, let path):
            return "meter \(meter): value at \(path) has more than 38 significant digits or an exponent beyond 127"
        }
    }

    public var description: String { message }
}

/// What one NDJSON line became.
public enum ParsedLine: Hashable, Sendable {
    case accepted(UsageEvent)
    case rejected(Rejection)
}
