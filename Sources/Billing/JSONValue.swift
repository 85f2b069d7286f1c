import Foundation

/// A parsed JSON document that keeps what the catalog rules need and JSONSerialization loses:
/// a number keeps its exact text (so "10000000000000000000001" is never rounded through a
/// binary float) and a boolean is never confused with the numbers 0 and 1.
public enum JSONValue: Hashable, Sendable {
    case string(String)
    /// The number exactly as written ("1e3", "0.0004").
    case number(String)
    case bool(Bool)
    case null
    case array([JSONValue])
    /// Members in document order; member names are unique (the parser refuses repeats).
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.string, _), (.number, _), (.bool, _), (.null, _), (.array, _), (.object, _): return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .string(let s): hasher.combine(0); hasher.combine(s)
        case .number(let n): hasher.combine(1); hasher.combine(n)
        case .bool(let b): hasher.combine(2); hasher.combine(b)
        case .null: hasher.combine(3)
        case .array(let items): hasher.combine(4); hasher.combine(items)
        case .object(let members):
            hasher.combine(5)
            for (name, value) in members { hasher.combine(name); hasher.combine(value) }
        }
    }

    /// The member called `name`, when this is an object that has it.
    public subscript(name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    /// What kind of value this is, for messages ("must be a string, not a number").
    public var kindName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "true/false"
        case .null: return "null"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

// MARK: - Writing

extension JSONValue {
    /// Canonical text: members sorted by name, no insignificant white space unless `pretty`.
    public func text(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .number(let n): out += n
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                JSONValue.newline(into: &out, pretty: pretty, indent: indent + 1)
                item.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            JSONValue.newline(into: &out, pretty: pretty, indent: indent)
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{"
            // Sorted by UTF-8 bytes so the order never depends on locale or normalisation.
            let sorted = members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            for (index, (name, value)) in sorted.enumerated() {
                if index > 0 { out += "," }
                JSONValue.newline(into: &out, pretty: pretty, indent: indent + 1)
                JSONValue.writeString(name, into: &out)
                out += pretty ? ": " : ":"
                value.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            JSONValue.newline(into: &out, pretty: pretty, indent: indent)
            out += "}"
        }
    }

    private static func newline(into out: inout String, pretty: Bool, indent: Int) {
        guard pretty else { return }
        out += "\n" + String(repeating: "  ", count: indent)
    }

    private static func writeString(_ s: String, into out: inout String) {
        JSONText.quote(s, into: &out)
    }
}

/// JSON string quoting shared by every JSON writer in the package.
public enum JSONText {
    /// Appends `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    public static func quote(_ text: String, into out: inout String) {
        out += "\""
        // Most texts need no escape: appended whole.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += text
            out += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// MARK: - Parsing

/// Why a document is not JSON, with the line and column where reading stopped.
public struct JSONSyntaxError: Error, Sendable, Equatable {
    public let line: Int
    public let column: Int
    public let reason: String

    public var message: String { "not valid JSON at line \(line), column \(column): \(reason)" }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259), UTF-8 encoded.
    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(data))
        return try parser.document()
    }

    /// Parses JSON text.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Data(text.utf8))
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var index = 0
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte order mark is not JSON but editors write it; skipping it costs nothing.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        skipSpace()
        guard index < bytes.count else { throw failure("the file is empty") }
        let value = try self.value()
        skipSpace()
        guard index == bytes.count else { throw failure("unexpected text after the end of the document") }
        return value
    }

    func failure(_ reason: String) -> JSONSyntaxError {
        var line = 1, column = 1
        for byte in bytes[..<min(index, bytes.count)] {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 }
            else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return JSONSyntaxError(line: line, column: column, reason: reason)
    }

    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 }
    }

    mutating func value() throws(JSONSyntaxError) -> JSONValue {
        guard let b = current else { throw failure("the document ends where a value was expected") }
        switch b {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw failure("unexpected character \(describe(b))")
        }
    }

    func describe(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
    }

    mutating func literal(_ word: String) throws(JSONSyntaxError) {
        let expected = Array(word.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw failure("unexpected character \(describe(bytes[index]))")
        }
        index += expected.count
    }

    mutating func enter() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= 256 else { throw failure("nested more than 256 levels deep") }
    }

    mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var members: [(String, JSONValue)] = []
        var names = Set<String>()
        skipSpace()
        if current == UInt8(ascii: "}") { index += 1; depth -= 1; return .object(members) }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a field name in double quotes") }
            let nameStart = index
            let name = try string()
            guard names.insert(name).inserted else {
                index = nameStart
                throw failure("the field \"\(name)\" appears twice in the same object")
            }
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after the field name \"\(name)\"") }
            index += 1
            skipSpace()
            members.append((name, try value()))
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; depth -= 1; return .object(members)
            default: throw failure("expected ',' or '}' after a field")
            }
        }
    }

    mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try enter()
        index += 1
        var items: [JSONValue] = []
        skipSpace()
        if current == UInt8(ascii: "]") { index += 1; depth -= 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; depth -= 1; return .array(items)
            default: throw failure("expected ',' or ']' after an array item")
            }
        }
    }

    mutating func number() throws(JSONSyntaxError) -> String {
        let start = index
        func digits(_ p: inout JSONParser) -> Int {
            var count = 0
            while let b = p.current, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { p.index += 1; count += 1 }
            return count
        }
        if current == UInt8(ascii: "-") { index += 1 }
        if current == UInt8(ascii: "0") {
            index += 1
        } else if digits(&self) == 0 {
            throw failure("a number needs digits")
        }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw failure("a number needs digits after the decimal point") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw failure("a number needs digits in its exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ p: JSONParser, upTo end: Int, into scalars: inout String.UnicodeScalarView) {
            scalars.append(contentsOf: String(decoding: p.bytes[runStart..<end], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let b = current else { throw failure("a string is not closed with '\"'") }
            switch b {
            case UInt8(ascii: "\""):
                flush(self, upTo: index, into: &scalars)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flush(self, upTo: index, into: &scalars)
                index += 1
                scalars.append(try escape())
                runStart = index
            case 0..<0x20:
                throw failure("a control character inside a string must be escaped")
            default:
                index += 1
            }
        }
    }

    mutating func escape() throws(JSONSyntaxError) -> Unicode.Scalar {
        guard let b = current else { throw failure("a string is not closed with '\"'") }
        index += 1
        switch b {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800..<0xDC00).contains(high) {
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("a \\u escape of a high surrogate must be followed by its low surrogate")
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid low surrogate in a \\u escape") }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else { throw failure("invalid \\u escape") }
            return scalar
        default:
            index -= 1
            throw failure("unknown escape '\\\(Character(Unicode.Scalar(b)))' in a string")
        }
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - index >= 4,
              let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { throw failure("a \\u escape needs four hex digits") }
        index += 4
        return value
    }
}

// MARK: - Building, reading, Codable

extension JSONValue {
    /// A whole number.
    public static func number(_ value: Int) -> JSONValue { .number(String(value)) }

    /// `.string(value)`, or `.null` when there is no value.
    public static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    /// An object from a dictionary (its members are written sorted by name in any case).
    public static func object(_ members: [String: JSONValue]) -> JSONValue {
        .object(members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { ($0.key, $0.value) })
    }

    /// The members of an object by name; nil for anything else.
    public var members: [String: JSONValue]? {
        guard case .object(let pairs) = self else { return nil }
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    /// The text of a string; nil for anything else.
    public var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// Pretty-printed with two-space indentation and sorted keys, without a trailing newline.
    public var rendered: String { text(pretty: true) }

    /// One line, sorted keys: for logs and NDJSON.
    public var compact: String { text(pretty: false) }

    /// With `value` as its member `name` (added, or replacing one of that name); an object only.
    public func setting(_ name: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var pairs) = self else { return self }
        pairs.removeAll { $0.0 == name }
        pairs.append((name, value))
        return .object(pairs)
    }
}

extension JSONValue: Codable {
    /// Reads any JSON through a `Decoder`: a whole number keeps its text, a fraction goes
    /// through `Decimal`, never `Double`. (`parse` keeps every number's text exactly.)
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .number(String(value)) }
        else if let value = try? container.decode(Decimal.self) { self = .number(value.plainString) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let text):
            if let whole = Int64(text) { try container.encode(whole) } else { try container.encode(Decimal(string: text) ?? 0) }
        case .string(let value): try container.encode(value)
        case .array(let items): try container.encode(items)
        case .object: try container.encode(members ?? [:])
        }
    }
}
