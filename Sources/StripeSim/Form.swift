/// A request parameter decoded from Stripe's bracket notation: `a=1` is a string, `a[b]=1` an
/// object, `a[0][b]=1` and `a[]=1` arrays.
public indirect enum FormValue: Sendable, Equatable {
    case string(String)
    case object([String: FormValue])
    case array([FormValue])

    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var object: [String: FormValue]? {
        if case let .object(o) = self { return o }
        return nil
    }

    public var array: [FormValue]? {
        if case let .array(a) = self { return a }
        return nil
    }

    public subscript(key: String) -> FormValue? { object?[key] }
}

/// A body or query string that cannot be decoded.
public struct FormError: Error, Sendable, Equatable {
    public var message: String
}

/// Decodes `application/x-www-form-urlencoded` text in Stripe's bracket notation.
public enum FormDecoder {
    /// The top-level parameters of `text`. An object whose keys are all indices (`a[0]`, `a[1]`)
    /// becomes an array in index order; a repeated plain key keeps its last value.
    public static func decode(_ text: String) throws(FormError) -> [String: FormValue] {
        var root = Node.branch([:])
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let rawKey = try percentDecode(parts[0])
            let value = parts.count > 1 ? try percentDecode(parts[1]) : ""
            let path = try keyPath(rawKey)
            try root.insert(path[...], value: value, name: rawKey)
        }
        guard case let .object(result) = root.value else { return [:] }
        return result
    }

    /// `a[b][0][]` -> ["a", "b", "0", ""].
    static func keyPath(_ key: String) throws(FormError) -> [String] {
        guard let open = key.firstIndex(of: "[") else {
            guard !key.isEmpty, !key.contains("]") else { throw FormError(message: "Invalid parameter name: '\(key)'.") }
            return [key]
        }
        let name = String(key[..<open])
        guard !name.isEmpty else { throw FormError(message: "Invalid parameter name: '\(key)'.") }
        var path = [name]
        var rest = key[open...]
        while !rest.isEmpty {
            guard rest.first == "[", let close = rest.firstIndex(of: "]") else {
                throw FormError(message: "Invalid parameter name: '\(key)' (unbalanced brackets).")
            }
            let segment = rest[rest.index(after: rest.startIndex)..<close]
            guard !segment.contains("[") else {
                throw FormError(message: "Invalid parameter name: '\(key)' (unbalanced brackets).")
            }
            path.append(String(segment))
            rest = rest[rest.index(after: close)...]
        }
        return path
    }

    /// Percent-decoding with `+` as a space, as HTML forms and Stripe's libraries send it.
    static func percentDecode(_ text: Substring) throws(FormError) -> String {
        guard text.contains(where: { $0 == "%" || $0 == "+" }) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw FormError(message: "Invalid percent-encoding in '\(text)'.")
                }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw FormError(message: "Invalid UTF-8 in '\(text)'.")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The tree while it is built: a branch's keys may still turn out to be array indices.
    private indirect enum Node {
        case leaf(String)
        case branch([String: Node])
        case list([Node])

        mutating func insert(_ path: ArraySlice<String>, value: String, name: String) throws(FormError) {
            guard let segment = path.first else {
                self = .leaf(value)
                return
            }
            let rest = path.dropFirst()
            if segment.isEmpty {
                var items: [Node]
                switch self {
                case let .list(existing): items = existing
                case let .branch(existing) where existing.isEmpty: items = []
                default: throw FormError(message: "Invalid array: '\(name)' mixes a list with other values.")
                }
                var child = Node.branch([:])
                try child.insert(rest, value: value, name: name)
                items.append(child)
                self = .list(items)
                return
            }
            guard case var .branch(children) = self else {
                throw FormError(message: "Invalid hash: '\(name)' gives both a value and nested values.")
            }
            var child = children[segment] ?? .branch([:])
            try child.insert(rest, value: value, name: name)
            children[segment] = child
            self = .branch(children)
        }

        var value: FormValue {
            switch self {
            case let .leaf(text): return .string(text)
            case let .list(items): return .array(items.map(\.value))
            case let .branch(children):
                let indices = children.keys.compactMap { key in Int(key).flatMap { $0 >= 0 && String($0) == key ? $0 : nil } }
                if !children.isEmpty, indices.count == children.count {
                    return .array(indices.sorted().map { children[String($0)]!.value })
                }
                return .object(children.mapValues(\.value))
            }
        }
    }
}
