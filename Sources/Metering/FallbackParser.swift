import Billing
import Foundation

/// The reference reading of a line through `JSONSerialization`, for what the scanner leaves:
/// escapes, non-ASCII text, repeated keys (the last one wins, as JSONSerialization reads them),
/// and every invalid line.
///
/// Numbers: JSONSerialization keeps integers as integers and gives `NSDecimalNumber` where a
/// `Double` would not round-trip, so reading its value back through its text is exact for every
/// number the scanner reads exactly.
enum FallbackParser {
    static func parse(_ line: UnsafeRawBufferPointer, meters: MeterSet) -> ParsedLine {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])
        } catch {
            return .rejected(.badJSON)
        }
        guard let event = object as? [String: Any] else { return .rejected(.notAnObject) }

        func text(_ key: String) -> String? { event[key] as? String }
        func nonEmpty(_ key: String) -> String? { text(key).flatMap { $0.isEmpty ? nil : $0 } }
        // Same order of checks as `EventScanner.scan`.
        guard let spec = text("specversion"), spec.utf8.elementsEqual("1.0".utf8) else { return .rejected(.badSpecVersion) }
        guard let id = nonEmpty("id") else { return .rejected(.missingField("id")) }
        guard let source = nonEmpty("source") else { return .rejected(.missingField("source")) }
        guard let type = nonEmpty("type") else { return .rejected(.missingField("type")) }
        guard let subject = nonEmpty("subject") else { return .rejected(.missingField("subject")) }
        guard let timeText = nonEmpty("time") else { return .rejected(.missingField("time")) }
        guard let time = Instant(rfc3339: timeText) else { return .rejected(.badTime(timeText)) }
        guard let typeIndex = meters.types.firstIndex(where: { $0.bytes.elementsEqual(type.utf8) }) else {
            return .rejected(.unknownEventType(type))
        }
        var values: [DataValue?] = Array(repeating: nil, count: meters.paths.count)
        if let data = event["data"] as? [String: Any] {
            for (slot, keys) in meters.pathKeys.enumerated() {
                var current: Any? = data
                for key in keys {
                    current = (current as? [String: Any])?[String(decoding: key, as: UTF8.self)]
                }
                values[slot] = current.map(dataValue)
            }
        }
        if let rejection = meters.check(values, typeIndex: typeIndex) { return .rejected(rejection) }
        let entry = meters.types[typeIndex]
        return .accepted(UsageEvent(identity: EventIdentity(source: source, id: id), type: entry.name,
                                    subject: subject, time: time, values: values, meterIndices: entry.meters))
    }

    static func dataValue(_ value: Any) -> DataValue {
        switch value {
        case let string as String:
            return .string(string)
        case is NSNull:
            return .null
        case let decimal as NSDecimalNumber:
            return number(decimal.stringValue)
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return .bool(number.boolValue)
            case "d", "f": return self.number("\(number.doubleValue)")
            case "Q": return self.number(String(number.uint64Value))
            default: return .number(.integer(number.int64Value))
            }
        default:
            return .structured
        }
    }

    static func number(_ text: String) -> DataValue {
        // Double's description is its shortest round-trip text: "1000.0", "1e+200", "0.1".
        switch MeterNumber.parse(text.replacingOccurrences(of: "e+", with: "e")) {
        case .number(let number): return .number(number)
        case .unrepresentable, .invalid: return .unrepresentableNumber
        }
    }
}
