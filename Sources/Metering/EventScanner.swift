import Billing
import Foundation

/// The hot path: one pass over a line's bytes, no Foundation JSON, no string built except the
/// ones the accepted event keeps. It gives up (nil) on anything outside the common shape —
/// backslash escapes, non-ASCII bytes, duplicate keys that matter, unusual numbers, deep
/// nesting, invalid JSON — and `FallbackParser` then decides, so both paths always agree.
struct EventScanner {
    let meters: MeterSet
    var p: UnsafeRawBufferPointer
    var n: Int
    var values: [DataValue?]
    /// Path slots already given a value or entered as an object: a repeat needs the fallback's
    /// last-key-wins reading.
    var touched: UInt64 = 0

    static let maxDepth = 64

    init(meters: MeterSet, line: UnsafeRawBufferPointer) {
        self.meters = meters
        self.p = line
        self.n = line.count
        self.values = Array(repeating: nil, count: meters.paths.count)
    }

    /// Starts on another line, keeping the values array: a scanner reused line after line
    /// allocates nothing per line.
    mutating func reset(line: UnsafeRawBufferPointer) {
        p = line
        n = line.count
        touched = 0
        for slot in values.indices { values[slot] = nil }
    }

    /// A top-level string field: not seen, seen but not a string, or its byte range.
    struct Field {
        var start = -1
        var end = -1
        var seen = false
        var isString: Bool { start >= 0 }
        var isNonEmptyString: Bool { start >= 0 && end > start }
    }

    enum FieldName { case specversion, id, source, type, subject, time }

    struct Fields {
        var specversion = Field(), id = Field(), source = Field(), type = Field(), subject = Field(), time = Field()
        subscript(name: FieldName) -> Field {
            get {
                switch name {
                case .specversion: return specversion
                case .id: return id
                case .source: return source
                case .type: return type
                case .subject: return subject
                case .time: return time
                }
            }
            set {
                switch name {
                case .specversion: specversion = newValue
                case .id: id = newValue
                case .source: source = newValue
                case .type: type = newValue
                case .subject: subject = newValue
                case .time: time = newValue
                }
            }
        }
    }

    @inline(__always) func at(_ i: Int) -> UInt8 { i < n ? p[i] : 0 }

    @inline(__always) func skipSpace(_ i: Int) -> Int {
        var i = i
        while i < n {
            let b = p[i]
            guard b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D else { break }
            i += 1
        }
        return i
    }

    /// `i` is at the opening quote; returns the index of the closing quote.
    @inline(__always) func scanString(_ i: Int) -> Int? {
        guard let base = p.baseAddress else { return nil }
        var j = i + 1
        // Eight bytes at a time: ids and timestamps are long, and most bytes are plain ASCII.
        // A word with a quote, backslash, control or non-ASCII byte (or a false alarm of the
        // bit trick) is looked at byte by byte.
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= n {
            let v = base.loadUnaligned(fromByteOffset: j, as: UInt64.self)
            let quote = v ^ 0x2222_2222_2222_2222, slash = v ^ 0x5C5C_5C5C_5C5C_5C5C
            let special = ((quote &- ones) & ~quote) | ((slash &- ones) & ~slash) | (v &- 0x2020_2020_2020_2020) | v
            if special & highs != 0 {
                for k in j..<(j + 8) {
                    let b = p[k]
                    if b == UInt8(ascii: "\"") { return k }
                    if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { return nil }
                }
            }
            j += 8
        }
        while j < n {
            let b = p[j]
            if b == UInt8(ascii: "\"") { return j }
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { return nil }
            j += 1
        }
        return nil
    }

    /// `i` is at the number's first byte; returns the index after it and its value.
    func scanNumber(_ i: Int) -> (Int, MeterNumber)? {
        var j = i
        var simple = true
        if at(j) == UInt8(ascii: "-") { j += 1 }
        let digitsStart = j
        while j < n {
            let b = p[j]
            if b &- 48 < 10 { j += 1; continue }
            if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { simple = false; j += 1; continue }
            break
        }
        if simple, j > digitsStart, j - digitsStart <= 18, p[digitsStart] != UInt8(ascii: "0") || j - digitsStart == 1 {
            var value: Int64 = 0
            for k in digitsStart..<j { value = value &* 10 &+ Int64(p[k] &- 48) }
            return (j, .integer(digitsStart > i ? -value : value))
        }
        switch MeterNumber.parse(UnsafeRawBufferPointer(rebasing: p[i..<j])) {
        case .number(let number): return (j, number)
        // JSONSerialization refuses some numbers Decimal cannot hold and rounds others: its call.
        case .unrepresentable, .invalid: return nil
        }
    }

    func skipLiteral(_ i: Int, _ text: StaticString) -> Int? {
        let count = text.utf8CodeUnitCount
        guard i + count <= n else { return nil }
        let base = text.utf8Start
        for k in 0..<count where p[i + k] != base[k] { return nil }
        return i + count
    }

    func skipValue(_ i: Int, depth: Int) -> Int? {
        switch at(i) {
        case UInt8(ascii: "\""): return scanString(i).map { $0 + 1 }
        case UInt8(ascii: "{"):
            guard depth < EventScanner.maxDepth else { return nil }
            var j = skipSpace(i + 1)
            if at(j) == UInt8(ascii: "}") { return j + 1 }
            while true {
                guard at(j) == UInt8(ascii: "\""), let keyEnd = scanString(j) else { return nil }
                j = skipSpace(keyEnd + 1)
                guard at(j) == UInt8(ascii: ":") else { return nil }
                guard let next = skipValue(skipSpace(j + 1), depth: depth + 1) else { return nil }
                j = skipSpace(next)
                if at(j) == UInt8(ascii: ",") { j = skipSpace(j + 1); continue }
                guard at(j) == UInt8(ascii: "}") else { return nil }
                return j + 1
            }
        case UInt8(ascii: "["):
            guard depth < EventScanner.maxDepth else { return nil }
            var j = skipSpace(i + 1)
            if at(j) == UInt8(ascii: "]") { return j + 1 }
            while true {
                guard let next = skipValue(j, depth: depth + 1) else { return nil }
                j = skipSpace(next)
                if at(j) == UInt8(ascii: ",") { j = skipSpace(j + 1); continue }
                guard at(j) == UInt8(ascii: "]") else { return nil }
                return j + 1
            }
        case UInt8(ascii: "t"): return skipLiteral(i, "true")
        case UInt8(ascii: "f"): return skipLiteral(i, "false")
        case UInt8(ascii: "n"): return skipLiteral(i, "null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return scanNumber(i)?.0
        default: return nil
        }
    }

    /// Reads the leaf value at `i` for a meter path.
    mutating func readLeaf(_ i: Int, depth: Int) -> (Int, DataValue)? {
        switch at(i) {
        case UInt8(ascii: "\""):
            guard let end = scanString(i) else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: p[(i + 1)..<end]), as: UTF8.self)
            return (end + 1, .string(text))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let (next, number) = scanNumber(i) else { return nil }
            return (next, .number(number))
        case UInt8(ascii: "t"): return skipLiteral(i, "true").map { ($0, .bool(true)) }
        case UInt8(ascii: "f"): return skipLiteral(i, "false").map { ($0, .bool(false)) }
        case UInt8(ascii: "n"): return skipLiteral(i, "null").map { ($0, .null) }
        default: return skipValue(i, depth: depth).map { ($0, .structured) }
        }
    }

    /// Compares against a literal: no global array to look up (and lazily initialise) per key.
    @inline(__always) func literalEquals(_ start: Int, _ end: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard end - start == count else { return false }
        return memcmp(p.baseAddress! + start, text.utf8Start, count) == 0
    }

    @inline(__always) func keyEquals(_ start: Int, _ end: Int, _ key: [UInt8]) -> Bool {
        guard end - start == key.count else { return false }
        for k in 0..<key.count where p[start + k] != key[k] { return false }
        return true
    }

    /// Walks an object inside `data` at `i` ('{'), reading the paths in `mask` at `level`.
    mutating func walk(_ i: Int, mask: UInt64, level: Int) -> Int? {
        guard level < EventScanner.maxDepth else { return nil }
        var j = skipSpace(i + 1)
        if at(j) == UInt8(ascii: "}") { return j + 1 }
        while true {
            guard at(j) == UInt8(ascii: "\""), let keyEnd = scanString(j) else { return nil }
            let keyStart = j + 1
            j = skipSpace(keyEnd + 1)
            guard at(j) == UInt8(ascii: ":") else { return nil }
            j = skipSpace(j + 1)
            var leaves: UInt64 = 0, deeper: UInt64 = 0
            var rest = mask
            while rest != 0 {
                let slot = rest.trailingZeroBitCount
                rest &= rest - 1
                let keys = meters.pathKeys[slot]
                if keyEquals(keyStart, keyEnd, keys[level]) {
                    if keys.count == level + 1 { leaves |= 1 << slot } else { deeper |= 1 << slot }
                }
            }
            if leaves | deeper != 0 {
                guard touched & (leaves | deeper) == 0 else { return nil }
                touched |= leaves | deeper
            }
            if leaves != 0 {
                guard let (next, value) = readLeaf(j, depth: level + 1) else { return nil }
                if deeper != 0, at(j) == UInt8(ascii: "{") {
                    guard walk(j, mask: deeper, level: level + 1) != nil else { return nil }
                }
                var set = leaves
                while set != 0 { values[set.trailingZeroBitCount] = value; set &= set - 1 }
                j = next
            } else if deeper != 0, at(j) == UInt8(ascii: "{") {
                guard let next = walk(j, mask: deeper, level: level + 1) else { return nil }
                j = next
            } else {
                guard let next = skipValue(j, depth: level + 1) else { return nil }
                j = next
            }
            j = skipSpace(j)
            if at(j) == UInt8(ascii: ",") { j = skipSpace(j + 1); continue }
            guard at(j) == UInt8(ascii: "}") else { return nil }
            return j + 1
        }
    }

    /// The parsed line, or nil when the fallback must decide.
    mutating func scan() -> ParsedLine? {
        let parsed = scan { source, id, subject, time, entry, values in
            UsageEvent(identity: EventIdentity(source: source, id: id), type: entry.name,
                       subject: String(decoding: subject, as: UTF8.self), time: time, values: values, meterIndices: entry.meters)
        }
        switch parsed {
        case .accepted(let event)?: return .accepted(event)
        case .rejected(let rejection)?: return .rejected(rejection)
        case nil: return nil
        }
    }

    /// The line's event as `accept` builds it from the bytes of `source`, `id` and `subject`,
    /// the time, the event type's entry and the meters' values; nil when the fallback must decide.
    @inline(__always)
    mutating func scan<Event>(_ accept: (_ source: UnsafeRawBufferPointer, _ id: UnsafeRawBufferPointer,
                                         _ subject: UnsafeRawBufferPointer, _ time: Instant, _ entry: MeterSet.TypeEntry,
                                         _ values: [DataValue?]) -> Event) -> Scanned<Event>? {
        guard meters.paths.count <= 64 else { return nil }
        var fields = Fields()
        var dataSeen = false
        var j = skipSpace(0)
        guard at(j) == UInt8(ascii: "{") else { return nil }
        j = skipSpace(j + 1)
        if at(j) == UInt8(ascii: "}") {
            j += 1
        } else {
            while true {
                guard at(j) == UInt8(ascii: "\""), let keyEnd = scanString(j) else { return nil }
                let keyStart = j + 1
                j = skipSpace(keyEnd + 1)
                guard at(j) == UInt8(ascii: ":") else { return nil }
                j = skipSpace(j + 1)
                // Known keys told apart by length and first byte: the common case costs two compares.
                let length = keyEnd - keyStart
                let first = length > 0 ? p[keyStart] : 0
                var which: FieldName? = nil
                switch (length, first) {
                case (2, UInt8(ascii: "i")) where literalEquals(keyStart, keyEnd, "id"): which = .id
                case (4, UInt8(ascii: "t")) where literalEquals(keyStart, keyEnd, "type"): which = .type
                case (4, UInt8(ascii: "t")) where literalEquals(keyStart, keyEnd, "time"): which = .time
                case (6, UInt8(ascii: "s")) where literalEquals(keyStart, keyEnd, "source"): which = .source
                case (7, UInt8(ascii: "s")) where literalEquals(keyStart, keyEnd, "subject"): which = .subject
                case (11, UInt8(ascii: "s")) where literalEquals(keyStart, keyEnd, "specversion"): which = .specversion
                default: which = nil
                }
                if let which {
                    guard !fields[which].seen else { return nil }
                    fields[which].seen = true
                    if at(j) == UInt8(ascii: "\"") {
                        guard let end = scanString(j) else { return nil }
                        fields[which].start = j + 1
                        fields[which].end = end
                        j = end + 1
                    } else {
                        guard let next = skipValue(j, depth: 1) else { return nil }
                        j = next
                    }
                } else if length == 4, literalEquals(keyStart, keyEnd, "data") {
                    guard !dataSeen else { return nil }
                    dataSeen = true
                    if at(j) == UInt8(ascii: "{"), !meters.paths.isEmpty {
                        let all: UInt64 = meters.paths.count == 64 ? ~0 : (1 << UInt64(meters.paths.count)) - 1
                        guard let next = walk(j, mask: all, level: 0) else { return nil }
                        j = next
                    } else {
                        guard let next = skipValue(j, depth: 1) else { return nil }
                        j = next
                    }
                } else {
                    guard let next = skipValue(j, depth: 1) else { return nil }
                    j = next
                }
                j = skipSpace(j)
                if at(j) == UInt8(ascii: ",") { j = skipSpace(j + 1); continue }
                guard at(j) == UInt8(ascii: "}") else { return nil }
                j += 1
                break
            }
        }
        guard skipSpace(j) == n else { return nil }

        let spec = fields.specversion, id = fields.id, source = fields.source
        let type = fields.type, subject = fields.subject, time = fields.time
        func bytes(_ f: Field) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: p[f.start..<f.end]) }
        func text(_ f: Field) -> String { String(decoding: bytes(f), as: UTF8.self) }
        // Same order of checks as `FallbackParser.finish`.
        guard spec.isString, spec.end - spec.start == 3, p[spec.start] == UInt8(ascii: "1"),
              p[spec.start + 1] == UInt8(ascii: "."), p[spec.start + 2] == UInt8(ascii: "0") else { return .rejected(.badSpecVersion) }
        guard id.isNonEmptyString else { return .rejected(.missingField("id")) }
        guard source.isNonEmptyString else { return .rejected(.missingField("source")) }
        guard type.isNonEmptyString else { return .rejected(.missingField("type")) }
        guard subject.isNonEmptyString else { return .rejected(.missingField("subject")) }
        guard time.isNonEmptyString else { return .rejected(.missingField("time")) }
        guard let instant = RFC3339.parse(bytes(time)) else { return .rejected(.badTime(text(time))) }
        guard let typeIndex = meters.typeIndex(bytes(type)) else { return .rejected(.unknownEventType(text(type))) }
        if let rejection = meters.check(values, typeIndex: typeIndex) { return .rejected(rejection) }
        return .accepted(accept(bytes(source), bytes(id), bytes(subject), instant, meters.types[typeIndex], values))
    }
}

extension MeterSet {
    /// The first meter of the event's type that cannot take its values, as a rejection: an event
    /// feeds all its meters or none, so it is never half billed.
    func check(_ values: [DataValue?], typeIndex: Int) -> Rejection? {
        for m in types[typeIndex].meters {
            guard let slot = valueSlots[m] else { continue }
            let meter = meters[m], path = paths[slot]
            let value = values[slot]
            switch meter.aggregation {
            case .count:
                continue
            case .uniqueCount:
                switch value {
                case nil, .null?: return .missingValue(meter: meter.slug, path: path)
                case .string?, .number?: continue
                case .unrepresentableNumber?: return .unrepresentableValue(meter: meter.slug, path: path)
                case .bool?, .structured?: return .uncountableValue(meter: meter.slug, path: path)
                }
            case .sum, .max, .min, .avg, .latest:
                switch value {
                case nil, .null?: return .missingValue(meter: meter.slug, path: path)
                case .number?: continue
                case .string(let text)?:
                    switch MeterNumber.parse(text) {
                    case .number: continue
                    case .unrepresentable: return .unrepresentableValue(meter: meter.slug, path: path)
                    case .invalid: return .nonNumericValue(meter: meter.slug, path: path)
                    }
                case .unrepresentableNumber?: return .unrepresentableValue(meter: meter.slug, path: path)
                case .bool?, .structured?: return .nonNumericValue(meter: meter.slug, path: path)
                }
            }
        }
        return nil
    }
}
