import Billing
import Foundation
import HTTPTypes
import Metering
import Store

/// `POST /v1/check` apart from how its bytes arrive: reading the body into a check and writing
/// the answer. Hummingbird's route and the event loop's fast path (`CheckChannelHandler`) both
/// use it, so both answer the same bytes.
enum CheckRoute {
    /// The check a body asks for, or the problem with it (400, 422 naming the field).
    static func request(from body: [UInt8], live: LiveServer) throws -> CheckRequest {
        guard let object = flatObject(body) ?? (try? JSONValue.parse(Data(body))), case .object = object else {
            throw Problem(.badRequest, "Bad Request", "the body must be a JSON object: {\"apiKey\" or \"subject\", \"feature\", \"units\", \"consume\"}")
        }
        func field(_ name: String, _ detail: String) -> Problem {
            Problem(.unprocessableContent, "Unprocessable Content", detail, extensions: [("field", .string(name))])
        }
        func text(_ name: String) throws -> String? {
            switch object[name] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            default: throw field(name, "\(name) must be a string")
            }
        }
        let apiKey = try text("apiKey"), subject = try text("subject")
        guard (apiKey == nil) != (subject == nil) else { throw field("apiKey", "give exactly one of apiKey and subject") }
        guard let feature = try text("feature"), !feature.isEmpty else {
            throw field("feature", "feature is required: the feature key the request uses")
        }
        var check = CheckRequest(apiKey: apiKey, subject: subject, feature: feature)
        switch object["units"] {
        case nil, .null?: break
        case .number(let number)?:
            guard let value = Decimal(exactly: number), value >= 0 else { throw field("units", "units must be a number of at least 0") }
            check.units = value
        default: throw field("units", "units must be a number of at least 0")
        }
        switch object["consume"] {
        case nil, .null?: break
        case .bool(let flag)?: check.consume = flag
        default: throw field("consume", "consume must be true or false")
        }
        if let key = try text("idempotencyKey") {
            guard !key.isEmpty, key.utf8.count <= 200 else {
                throw field("idempotencyKey", "idempotencyKey must be a non-empty string of at most 200 bytes")
            }
            check.idempotencyKey = key
        }
        if check.consume, check.units > ConsumedUsage.maxCountedUnits || check.units != check.units.rounded(scale: 0),
           let meter = live.meter(feature: feature), meter.aggregation == .count {
            throw field("units", "a consuming check on the COUNT meter \(meter.slug) records one event per unit: units must be a whole number up to \(ConsumedUsage.maxCountedUnits); report larger amounts as events")
        }
        return check
    }

    /// A flat object (members whose values are strings without escapes or non-ASCII bytes,
    /// plain decimal numbers, true, false or null), read without the general parser: the body
    /// every gateway sends. Nil for anything else, which the general parser reads (or refuses)
    /// as before, so both give the same value.
    static func flatObject(_ body: [UInt8]) -> JSONValue? {
        var index = 0
        func skipSpace() {
            while index < body.count, body[index] == 32 || body[index] == 10 || body[index] == 13 || body[index] == 9 { index += 1 }
        }
        func string() -> String? {
            guard index < body.count, body[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            var end = start
            while end < body.count, body[end] != UInt8(ascii: "\"") {
                guard body[end] >= 0x20, body[end] < 0x80, body[end] != UInt8(ascii: "\\") else { return nil }
                end += 1
            }
            guard end < body.count else { return nil }
            index = end + 1
            return String(decoding: body[start..<end], as: UTF8.self)
        }
        func literal(_ word: String) -> Bool {
            let bytes = Array(word.utf8)
            guard body.count - index >= bytes.count, body[index..<index + bytes.count].elementsEqual(bytes) else { return false }
            index += bytes.count
            return true
        }
        func number() -> String? {
            let start = index
            if index < body.count, body[index] == UInt8(ascii: "-") { index += 1 }
            let integerStart = index
            while index < body.count, (48...57).contains(body[index]) { index += 1 }
            let integerDigits = index - integerStart
            guard integerDigits > 0, integerDigits == 1 || body[integerStart] != UInt8(ascii: "0") else { return nil }
            if index < body.count, body[index] == UInt8(ascii: ".") {
                index += 1
                let fractionStart = index
                while index < body.count, (48...57).contains(body[index]) { index += 1 }
                guard index > fractionStart else { return nil }
            }
            return String(decoding: body[start..<index], as: UTF8.self)
        }
        skipSpace()
        guard index < body.count, body[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var members: [(String, JSONValue)] = []
        skipSpace()
        if index < body.count, body[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard let name = string(), !members.contains(where: { $0.0 == name }) else { return nil }
                skipSpace()
                guard index < body.count, body[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                skipSpace()
                guard index < body.count else { return nil }
                let value: JSONValue
                switch body[index] {
                case UInt8(ascii: "\""):
                    guard let text = string() else { return nil }
                    value = .string(text)
                case UInt8(ascii: "t"):
                    guard literal("true") else { return nil }
                    value = .bool(true)
                case UInt8(ascii: "f"):
                    guard literal("false") else { return nil }
                    value = .bool(false)
                case UInt8(ascii: "n"):
                    guard literal("null") else { return nil }
                    value = .null
                default:
                    guard let text = number() else { return nil }
                    value = .number(text)
                }
                members.append((name, value))
                skipSpace()
                guard index < body.count else { return nil }
                if body[index] == UInt8(ascii: ",") { index += 1; continue }
                guard body[index] == UInt8(ascii: "}") else { return nil }
                index += 1
                break
            }
        }
        skipSpace()
        return index == body.count ? .object(members) : nil
    }

    /// An answer as HTTP: 200 and the check's figures when allowed, else 403 and the problem
    /// naming the reason, with the same figures.
    struct Reply: Sendable {
        var status: HTTPResponse.Status
        var text: String
        var contentType: String
        /// The denial, as the problem it is answered with.
        var problem: Problem?

        init(_ problem: Problem) {
            status = problem.status
            text = problem.text
            contentType = Problem.contentType
            self.problem = problem
        }

        init(allowed facts: CheckFacts) {
            status = .ok
            text = CheckJSON.allowedText(facts)
            contentType = "application/json"
        }
    }

    /// The reply to a decided check; counts it in the metrics.
    static func reply(_ answer: CheckAnswer, live: LiveServer) -> Reply {
        live.metrics.checked(answer)
        guard let denial = answer.denial else { return Reply(allowed: answer.facts) }
        return Reply(Problem(.forbidden, denial.reason.prefix(1).uppercased() + denial.reason.dropFirst(), denial.description,
                             extensions: [("allowed", .bool(false))] + CheckJSON.fields(answer.facts)))
    }
}
