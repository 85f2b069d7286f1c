import Billing
import Foundation

/// CloudEvents over HTTP (structured, batched and binary modes) turned into the NDJSON lines the
/// ingest reads: one line per event, in the order of the request. A body that is not JSON at all
/// is refused whole (400, nothing stored); an event that is JSON but not a valid event is
/// rejected on its own, with its index, like a bad line of a file.
enum EventBody {
    struct Unparseable: Error, CustomStringConvertible {
        let description: String
    }

    /// Structured mode: the body is one event object.
    static func structured(_ body: [UInt8]) throws -> [UInt8] {
        let elements = try JSONSyntax.topLevel(body, array: false)
        return line(body, elements[0])
    }

    /// Batched mode: the body is a JSON array of events.
    static func batched(_ body: [UInt8]) throws -> [[UInt8]] {
        try JSONSyntax.topLevel(body, array: true).map { line(body, $0) }
    }

    /// Binary mode: the attributes come in `ce-` headers and the body is the event's `data`.
    static func binary(headers: [String: String], body: [UInt8]) throws -> [UInt8] {
        var data: [UInt8] = Array("{}".utf8)
        if !body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            data = line(body, try JSONSyntax.topLevel(body, array: false)[0])
        }
        var object = "{"
        for name in ["specversion", "id", "source", "type", "subject", "time"] {
            guard let value = headers["ce-" + name] else { continue }
            object += "\(jsonString(name)):\(jsonString(value)),"
        }
        return Array((object + "\"data\":").utf8) + data + Array("}".utf8)
    }

    /// An element's bytes as one line: JSON allows a line break only as whitespace between
    /// tokens (never raw inside a string), so each becomes a space.
    static func line(_ body: [UInt8], _ range: Range<Int>) -> [UInt8] {
        body[range].map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
    }

    static func jsonString(_ text: String) -> String {
        var quoted = ""
        JSONText.quote(text, into: &quoted)
        return quoted
    }
}

/// A strict JSON syntax check (RFC 8259) that builds nothing: it finds the byte ranges of a
/// top-level array's elements, or of the one top-level value.
struct JSONSyntax {
    let bytes: [UInt8]
    var index = 0
    static let maxDepth = 64

    static func topLevel(_ bytes: [UInt8], array: Bool) throws -> [Range<Int>] {
        var scanner = JSONSyntax(bytes: bytes)
        scanner.skipWhitespace()
        var ranges: [Range<Int>] = []
        if array {
            guard scanner.peek == UInt8(ascii: "[") else { throw EventBody.Unparseable(description: "a batch is a JSON array of events") }
            scanner.index += 1
            scanner.skipWhitespace()
            if scanner.peek == UInt8(ascii: "]") {
                scanner.index += 1
            } else {
                while true {
                    scanner.skipWhitespace()
                    let start = scanner.index
                    try scanner.value(depth: 1)
                    ranges.append(start..<scanner.index)
                    scanner.skipWhitespace()
                    if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
                    guard scanner.peek == UInt8(ascii: "]") else { throw scanner.error("expected , or ] after an element") }
                    scanner.index += 1
                    break
                }
            }
        } else {
            let start = scanner.index
            try scanner.value(depth: 0)
            ranges.append(start..<scanner.index)
        }
        scanner.skipWhitespace()
        guard scanner.index == bytes.count else { throw scanner.error("unexpected text after the JSON value") }
        return ranges
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    func error(_ what: String) -> EventBody.Unparseable {
        EventBody.Unparseable(description: "not valid JSON at byte \(index): \(what)")
    }

    mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    mutating func value(depth: Int) throws {
        guard depth < JSONSyntax.maxDepth else { throw error("nested deeper than \(JSONSyntax.maxDepth)") }
        skipWhitespace()
        guard let byte = peek else { throw error("expected a value") }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a member name") }
                try string()
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected :") }
                index += 1
                try value(depth: depth + 1)
                skipWhitespace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                guard peek == UInt8(ascii: "}") else { throw error("expected , or }") }
                index += 1
                return
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                try value(depth: depth + 1)
                skipWhitespace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                guard peek == UInt8(ascii: "]") else { throw error("expected , or ]") }
                index += 1
                return
            }
        case UInt8(ascii: "\""):
            try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            try number()
        }
    }

    mutating func literal(_ text: String) throws {
        let expected = Array(text.utf8)
        guard index + expected.count <= bytes.count, bytes[index..<index + expected.count].elementsEqual(expected) else {
            throw error("unknown literal")
        }
        index += expected.count
    }

    mutating func string() throws {
        index += 1
        while let byte = peek {
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return
            case UInt8(ascii: "\\"):
                guard let escaped = peek else { throw error("unterminated string") }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    for _ in 0..<4 {
                        guard let hex = peek, (0x30...0x39).contains(hex) || (0x41...0x46).contains(hex) || (0x61...0x66).contains(hex) else {
                            throw error("bad \\u escape")
                        }
                        index += 1
                    }
                default: throw error("bad escape")
                }
            default:
                if byte < 0x20 { throw error("a control character inside a string") }
            }
        }
        throw error("unterminated string")
    }

    mutating func number() throws {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, (0x30...0x39).contains(first) else { throw error("expected a value") }
        index += 1
        if first != 0x30 { while let digit = peek, (0x30...0x39).contains(digit) { index += 1 } }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek, (0x30...0x39).contains(digit) else { throw error("expected a digit") }
            while let digit = peek, (0x30...0x39).contains(digit) { index += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek, (0x30...0x39).contains(digit) else { throw error("expected a digit") }
            while let digit = peek, (0x30...0x39).contains(digit) { index += 1 }
        }
        if index == start { throw error("expected a value") }
    }
}
