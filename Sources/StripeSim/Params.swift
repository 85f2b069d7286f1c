/// What a request parameter may hold, as Stripe's API description states it.
indirect enum ParamShape: Sendable {
    case string
    case integer
    case boolean
    /// A decimal number sent as text ("19.5").
    case decimal
    /// Free keys with string values (metadata), or "" to unset.
    case map
    /// Accepted and not checked.
    case anything
    /// The empty string, which unsets a value.
    case empty
    case values([String])
    case list(ParamShape)
    case oneOf([ParamShape])
    case object([String: ParamShape], required: [String])

    /// Every operation's parameters, keyed by "METHOD /v1/path/{name}".
    static let operations: [String: ParamShape] = {
        guard case let .object(pairs) = try! JSON.parse(Array(operationsJSON.utf8)) else { return [:] }
        var result: [String: ParamShape] = [:]
        for (key, value) in pairs { result[key] = ParamShape(value) }
        return result
    }()

    init(_ json: JSON) {
        switch json {
        case let .string(name):
            switch name {
            case "string": self = .string
            case "integer": self = .integer
            case "boolean": self = .boolean
            case "decimal": self = .decimal
            case "map": self = .map
            case "empty": self = .empty
            default: self = .anything
            }
        case .object:
            if case let .array(values)? = json["enum"] {
                self = .values(values.compactMap(\.stringValue))
            } else if let item = json["list"] {
                self = .list(ParamShape(item))
            } else if case let .array(alternatives)? = json["oneOf"] {
                self = .oneOf(alternatives.map(ParamShape.init))
            } else if case let .object(properties)? = json["object"] {
                var shapes: [String: ParamShape] = [:]
                for (name, shape) in properties { shapes[name] = ParamShape(shape) }
                let required: [String]
                if case let .array(names)? = json["required"] { required = names.compactMap(\.stringValue) } else { required = [] }
                self = .object(shapes, required: required)
            } else {
                self = .anything
            }
        default:
            self = .anything
        }
    }

    /// The first problem with `value`, named as Stripe names nested parameters
    /// (`customer_details[address][country]`), or nil when it fits.
    func check(_ value: FormValue, name: String) -> APIError? {
        switch self {
        case .anything:
            return nil
        case .string:
            return value.string == nil ? .invalidRequest("Invalid string: \(name) must be a string", param: name) : nil
        case .empty:
            return value.string == "" ? nil : .invalidRequest("Invalid \(name): must be an empty string", param: name)
        case .integer:
            guard let text = value.string, Int64(text) != nil else {
                return .invalidRequest("Invalid integer: \(value.string ?? "(not a single value)")", param: name,
                                       code: "parameter_invalid_integer")
            }
            return nil
        case .decimal:
            guard let text = value.string, Self.isDecimal(text) else {
                return .invalidRequest("Invalid decimal: \(value.string ?? "(not a single value)")", param: name)
            }
            return nil
        case .boolean:
            guard let text = value.string, text == "true" || text == "false" else {
                return .invalidRequest("Invalid boolean: \(value.string ?? "(not a single value)")", param: name)
            }
            return nil
        case let .values(allowed):
            guard let text = value.string, allowed.contains(text) else {
                return .invalidRequest("Invalid \(name): must be one of \(Self.listing(allowed))", param: name)
            }
            return nil
        case .map:
            if value.string == "" { return nil }
            guard let object = value.object else { return .invalidRequest("Invalid object", param: name) }
            for key in object.keys.sorted() where object[key]?.string == nil {
                return .invalidRequest("Invalid value for \(name)[\(key)]: must be a string", param: "\(name)[\(key)]")
            }
            return nil
        case let .list(item):
            let items: [FormValue]
            if let array = value.array {
                items = array
            } else if value.string == "" {
                items = []
            } else {
                return .invalidRequest("Invalid array", param: name)
            }
            for (index, element) in items.enumerated() {
                if let problem = item.check(element, name: "\(name)[\(index)]") { return problem }
            }
            return nil
        case let .oneOf(alternatives):
            var first: APIError?
            for alternative in alternatives {
                guard let problem = alternative.check(value, name: name) else { return nil }
                if case .empty = alternative { continue }
                if first == nil { first = problem }
            }
            return first
        case let .object(properties, required):
            guard let object = value.object else { return .invalidRequest("Invalid object", param: name) }
            return Self.check(object, properties: properties, required: required, prefix: name)
        }
    }

    /// Checks top-level or nested parameters against their properties: unknown names first,
    /// then missing required ones, then each value.
    static func check(_ object: [String: FormValue], properties: [String: ParamShape], required: [String],
                      prefix: String?) -> APIError? {
        func qualified(_ key: String) -> String { prefix.map { "\($0)[\(key)]" } ?? key }
        for key in object.keys.sorted() where properties[key] == nil {
            return APIError(status: 400, type: "invalid_request_error", code: "parameter_unknown", param: qualified(key),
                            message: "Received unknown parameter: \(qualified(key))")
        }
        for key in required where object[key] == nil {
            return .missing(qualified(key))
        }
        for key in object.keys.sorted() {
            if let problem = properties[key]!.check(object[key]!, name: qualified(key)) { return problem }
        }
        return nil
    }

    private static func isDecimal(_ text: String) -> Bool {
        var digits = 0, dots = 0
        for (index, character) in text.enumerated() {
            if character == "-", index == 0 { continue }
            if character == "." { dots += 1; continue }
            guard character.isASCII, character.isNumber else { return false }
            digits += 1
        }
        return digits > 0 && dots <= 1
    }

    private static func listing(_ values: [String]) -> String {
        guard values.count > 1 else { return values.first ?? "" }
        return values.dropLast().joined(separator: ", ") + ", or " + values.last!
    }
}

/// A request's parameters after they passed the operation's shape: typed reads that cannot fail
/// on a checked value.
struct Params: Sendable {
    var values: [String: FormValue]

    subscript(name: String) -> FormValue? { values[name] }

    func string(_ name: String) -> String? { values[name]?.string }

    /// A string that is present and not empty.
    func text(_ name: String) -> String? {
        guard let value = values[name]?.string, !value.isEmpty else { return nil }
        return value
    }

    func int(_ name: String) -> Int64? { values[name]?.string.flatMap { Int64($0) } }

    func bool(_ name: String) -> Bool? { values[name]?.string.map { $0 == "true" } }

    func strings(_ name: String) -> [String]? { values[name]?.array?.compactMap(\.string) }

    /// A metadata map; "" unsets it (an empty map).
    func map(_ name: String) -> [String: String]? { values[name].map(FormValue.stringMap) }

    func nested(_ name: String) -> Params? { values[name]?.object.map { Params(values: $0) } }

    func list(_ name: String) -> [Params]? {
        guard let value = values[name] else { return nil }
        if value.string == "" { return [] }
        return value.array?.compactMap { $0.object.map { Params(values: $0) } }
    }
}

extension FormValue {
    static func stringMap(_ value: FormValue) -> [String: String] {
        (value.object ?? [:]).compactMapValues(\.string)
    }
}
