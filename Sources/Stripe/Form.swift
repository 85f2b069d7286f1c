import Foundation

/// Parameters in Stripe's form encoding: bracket notation for nesting (`metadata[k]=v`,
/// `period[start]=1`, `line_items[0][amount]=100`, `enabled_events[]=invoice.paid`), RFC 3986
/// percent-encoding of every name and value, fields in the order they were added (a map's
/// entries sorted by key), so the same parameters always give the same bytes. Used for POST
/// bodies and GET query strings alike.
public struct Form: Hashable, Sendable {
    public struct Field: Hashable, Sendable {
        public let name: String
        public let value: String
    }

    public private(set) var fields: [Field] = []

    public init() {}

    /// A field; nil adds nothing. An empty string is sent as is: it unsets the value at Stripe.
    public mutating func add(_ name: String, _ value: String?) {
        if let value { fields.append(Field(name: name, value: value)) }
    }

    public mutating func add<Number: BinaryInteger>(_ name: String, _ value: Number?) {
        add(name, value.map { String($0) })
    }

    public mutating func add(_ name: String, _ value: Bool?) {
        add(name, value.map { $0 ? "true" : "false" })
    }

    /// A decimal number as plain digits (`19`, `8.875`), never through a binary float.
    public mutating func add(_ name: String, _ value: Decimal?) {
        add(name, value.map { $0.description })
    }

    /// `name[key]=value` for every entry, keys sorted.
    public mutating func add(_ name: String, map: [String: String]?) {
        guard let map else { return }
        for key in map.keys.sorted() { add("\(name)[\(key)]", map[key]) }
    }

    /// `name[]=value` for every value, in order: Stripe's notation for a list of strings.
    public mutating func add(_ name: String, list: [String]?) {
        guard let list else { return }
        for value in list { add("\(name)[]", value) }
    }

    /// The fields `build` adds, nested under `name`: `name[field]`, `name[field][sub]`.
    public mutating func add(_ name: String, nested build: (inout Form) -> Void) {
        var inner = Form()
        build(&inner)
        append(inner, under: name)
    }

    /// One nested form per element, indexed: `name[0][field]`, `name[1][field]`.
    public mutating func add<Element>(_ name: String, each elements: [Element]?, _ build: (inout Form, Element) -> Void) {
        guard let elements else { return }
        for (index, element) in elements.enumerated() {
            add("\(name)[\(index)]") { build(&$0, element) }
        }
    }

    /// A value that encodes itself, nested under `name`.
    public mutating func add(_ name: String, _ value: (some FormEncodable)?) {
        guard let value else { return }
        add(name) { value.encode(into: &$0) }
    }

    private mutating func append(_ inner: Form, under name: String) {
        for field in inner.fields {
            // "a[b]" under "n" is "n[a][b]": the first segment gains brackets, the rest stays.
            let head = field.name.prefix { $0 != "[" }
            let tail = field.name.dropFirst(head.count)
            fields.append(Field(name: "\(name)[\(head)]\(tail)", value: field.value))
        }
    }

    /// `name=value&…`, percent-encoded: the form body of a POST, the query of a GET.
    public var encoded: String {
        fields.map { Form.percentEncoded($0.name) + "=" + Form.percentEncoded($0.value) }.joined(separator: "&")
    }

    /// RFC 3986: every byte of the UTF-8 text but the unreserved `A-Z a-z 0-9 - . _ ~` becomes
    /// `%XX` (brackets and spaces included; a space is `%20`, never `+`).
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// A request parameter that writes itself as form fields.
public protocol FormEncodable: Sendable {
    func encode(into form: inout Form)
}
