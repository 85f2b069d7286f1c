import Billing
import Foundation
import Testing
@testable import Metering

let tokens = Meter(slug: "llm_tokens", name: "Tokens", eventType: "llm.tokens", aggregation: .sum,
                   valueProperty: "$.tokens", groupBy: ["model": "$.model"])
let inputTokens = Meter(slug: "input_tokens", name: "Input tokens", eventType: "llm.tokens", aggregation: .max,
                        valueProperty: "$.usage.input_tokens")
let requests = Meter(slug: "api_requests", name: "Requests", eventType: "api.request", aggregation: .count)
let models = Meter(slug: "models", name: "Models", eventType: "api.request", aggregation: .uniqueCount,
                   valueProperty: "$.model")

func parser(_ meters: [Meter] = [tokens, inputTokens, requests]) -> EventParser {
    try! EventParser(meters: meters)
}

/// A line with every required field, `data` and extra members spliced in.
func line(id: String = "e1", source: String = "gw", type: String = "llm.tokens", subject: String = "cust-1",
          time: String = "2026-01-01T10:15:00Z", data: String = #"{"tokens":10,"model":"m1","usage":{"input_tokens":3}}"#) -> String {
    #"{"specversion":"1.0","id":"\#(id)","source":"\#(source)","type":"\#(type)","subject":"\#(subject)","time":"\#(time)","data":\#(data)}"#
}

func accepted(_ result: ParsedLine, sourceLocation: SourceLocation = #_sourceLocation) -> UsageEvent? {
    if case .accepted(let event) = result { return event }
    Issue.record("expected an accepted event, got \(result)", sourceLocation: sourceLocation)
    return nil
}

func decimal(_ text: String) -> Decimal { Decimal(exactly: text)! }
