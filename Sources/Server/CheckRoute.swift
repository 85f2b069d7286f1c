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
        guard let object = try? JSONValue.parse(Data(body)), case .object = object else {
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
