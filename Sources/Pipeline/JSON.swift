import Billing
import Foundation

/// A JSON value read or written by Tollbooth's own code.
///
/// Written by hand rather than through `JSONSerialization`/`Codable` so that an amount is
/// always the exact decimal string it was given ("12.30", never 12.3 through a `Double`), and
/// keys come out sorted, so the same data always prints the same bytes.
public indirect enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number as its exact text ("3", "-0.5").
    case number(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public static func number(_ value: Int) -> JSON { .number(String(value)) }

    /// `.string(value)`, or `.null` when there is no value.
    public static func string(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }

    /// Pretty-printed with two-space indentation and sorted keys, without a trailing newline.
    public var rendered: String {
        var out = ""
        write(to: &out, indent: 0, pretty: true)
        return out
    }

    /// One line, sorted keys: for logs and NDJSON.
    public var compact: String {
        var out = ""
        write(to: &out, indent: 0, pretty: false)
        return out
    }

    private func write(to out: inout String, indent: Int, pretty: Bool) {
        let newline = pretty ? "\n" : ""
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : ""
        let closePad = pretty ? String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): JSON.quote(text, into: &out)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[" + newline
            for (index, item) in items.enumerated() {
                out += pad
                item.write(to: &out, indent: indent + 1, pretty: pretty)
                out += (index == items.count - 1 ? "" : ",") + newline
            }
            out += closePad + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{" + newline
            let keys = members.keys.sorted()
            for (index, key) in keys.enumerated() {
                out += pad
                JSON.quote(key, into: &out)
                out += pretty ? ": " : ":"
                members[key]!.write(to: &out, indent: indent + 1, pretty: pretty)
                out += (index == keys.count - 1 ? "" : ",") + newline
            }
            out += closePad + "}"
        }
    }

    private static func quote(_ text: String, into out: inout String) {
        JSONText.quote(text, into: &out)
    }
}

extension JSON: Decodable {
    /// Reads any JSON. A number keeps its exact text when it is whole; a fraction goes through
    /// `Decimal`, never `Double`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .number(String(value)) }
        else if let value = try? container.decode(Decimal.self) { self = .number(value.plainString) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSON].self)) }
    }

    /// Parses a JSON document; the error says where the syntax breaks.
    public static func parse(_ data: Data) throws -> JSON {
        try JSONDecoder().decode(JSON.self, from: data)
    }

    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// A name for the kind of value, for error messages ("a string", "an object").
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}
