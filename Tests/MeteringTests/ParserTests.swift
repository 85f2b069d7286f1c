import Billing
import Foundation
import Testing
@testable import Metering

struct ParserAgreementTests {
    /// Lines the scanner reads itself and lines it hands to JSONSerialization: the answers agree.
    static let corpus: [String] = [
        line(),
        line(id: #"a\"b"#),
        line(id: #"caf\u00e9"#),
        line(id: "café"),
        line(source: #"g\/w"#),
        line(data: #"{"tokens":1e3,"model":"m"}"#),
        line(data: #"{"tokens":-0,"model":"m"}"#),
        line(data: #"{"tokens":12.50,"model":"m"}"#),
        line(data: #"{"tokens":12.5e-1,"model":"m"}"#),
        line(data: #"{"tokens":123456789012345678901234567890,"model":"m"}"#),
        line(data: #"{"tokens":9223372036854775808,"model":"m"}"#),
        line(data: #"{"tokens":-9223372036854775809,"model":"m"}"#),
        line(data: #"{"tokens":0.12345678901234567,"model":"m"}"#),
        line(data: #"{"tokens":"12.5","model":"m"}"#),
        line(data: #"{"tokens":"abc","model":"m"}"#),
        line(data: #"{"tokens":true,"model":"m"}"#),
        line(data: #"{"tokens":null,"model":"m"}"#),
        line(data: #"{"tokens":[1,2],"model":"m"}"#),
        line(data: #"{"tokens":{"a":1},"model":"m"}"#),
        line(data: #"{"model":"m"}"#),
        line(data: #"{"tokens":5,"model":7}"#),
        line(data: #"{"tokens":5,"model":"caf\u00e9"}"#),
        line(data: #"{"tokens":5,"model":false,"usage":{"input_tokens":4,"x":[1,{"y":null}]}}"#),
        line(data: #"{"usage":{"other":1,"input_tokens":2.25},"tokens":7}"#),
        line(data: #"{"tokens":5,"tokens":6}"#),
        line(data: #"null"#),
        line(data: #""text""#),
        line(data: #"{"tokens":1e400}"#),
        line(data: #"{"tokens":01}"#),
        line(data: #"{"tokens":1.}"#),
        line(time: "2026-01-01T10:15:00.999+02:00"),
        line(time: "2026-02-30T10:15:00Z"),
        line(time: "2026-01-01 10:15:00Z"),
        line(type: "nope"),
        line(id: ""),
        line(subject: #"\u0000"#),
        #" { "time" : "2026-01-01T10:15:00Z" ,"subject":"s", "type":"api.request","source":"x","id":"y","specversion":"1.0" } "#,
        "{\t\"specversion\":\"1.0\",\r\n\"id\":\"1\",\"source\":\"s\",\"type\":\"api.request\",\"subject\":\"s\",\"time\":\"2026-01-01T00:00:00Z\"}",
        #"{"specversion":"1.0","id":"1","source":"s","type":"api.request","subject":"s","time":"2026-01-01T00:00:00Z","ext":[true,false,null,"x",{"k":-1.5e+3}]}"#,
        #"{"specversion":"1.0","id":"1","id":"2","source":"s","type":"api.request","subject":"s","time":"2026-01-01T00:00:00Z"}"#,
        #"{"specversion":1.0,"id":"1","source":"s","type":"api.request","subject":"s","time":"2026-01-01T00:00:00Z"}"#,
        #"{"specversion":"1.0","id":7,"source":"s","type":"api.request","subject":"s","time":"2026-01-01T00:00:00Z"}"#,
        #"{"specversion":"1.0"}"#,
        "{}",
        "[]",
        "42",
        "",
        "{",
        #"{"specversion":"1.0",}"#,
        #"{"specversion":"1.0"} x"#,
        #"{"a":tru}"#,
    ]

    @Test func scannerAndFallbackAgreeOnTrickyLines() {
        let p = parser()
        var scanned = 0
        for text in Self.corpus {
            var copy = text
            copy.withUTF8 { bytes in
                let raw = UnsafeRawBufferPointer(bytes)
                let fallback = p.fallbackOnly(raw)
                if let fast = p.scanOnly(raw) {
                    scanned += 1
                    #expect(fast == fallback, "\(text)")
                }
                #expect(p.parse(raw) == fallback, "\(text)")
            }
        }
        // The corpus exercises both paths.
        #expect(scanned > 15)
        #expect(scanned < Self.corpus.count)
    }

    @Test func numbersAreExact() throws {
        let p = parser([tokens])
        func value(_ literal: String) -> DataValue? {
            accepted(p.parse(line(data: #"{"tokens":\#(literal),"model":"m"}"#)))?.values[0]
        }
        #expect(value("1e3") == .number(.integer(1000)))
        #expect(value("-0") == .number(.integer(0)))
        #expect(value("12.50") == .number(.decimal(decimal("12.5"))))
        #expect(value("123456789012345678901234567890") == .number(.decimal(decimal("123456789012345678901234567890"))))
        #expect(value("9223372036854775807") == .number(.integer(Int64.max)))
        #expect(value("\"12.5\"") == .string("12.5"))
        #expect(p.reading(of: try #require(accepted(p.parse(line(data: #"{"tokens":"12.5"}"#)))), meter: 0)
                == .number(.decimal(decimal("12.5"))))
    }

    @Test func escapedIdentityIsDecoded() throws {
        let event = try #require(accepted(parser().parse(line(id: #"caf\u00e9 \"x\""#))))
        #expect(event.identity.id == "café \"x\"")
        #expect(event.identity == EventIdentity(source: "gw", id: "café \"x\""))
    }

    @Test func timeParsingMatchesInstant() {
        let samples = ["2026-01-01T10:15:00Z", "2026-01-01t10:15:00z", "2024-02-29T23:59:60Z", "2026-01-01T10:15:00.5-07:30",
                       "2026-01-01T10:15:00.Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:15:00+0200",
                       "2026-01-01T10:15:00", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "2026-01-01T10:15:00.123456789Z",
                       "2026-01-01T10:15:00+23:59", "2026-01-01T10:15:00+24:00", "x026-01-01T10:15:00Z"]
        for text in samples {
            var copy = text
            let fast = copy.withUTF8 { RFC3339.parse(UnsafeRawBufferPointer($0)) }
            #expect(fast == Instant(rfc3339: text), "\(text)")
        }
    }
}

struct RejectionTests {
    func rejection(_ text: String, _ meters: [Meter] = [tokens, inputTokens, requests, models]) -> String? {
        if case .rejected(let reason) = parser(meters).parse(text) { return reason.message }
        return nil
    }

    @Test func everyReasonHasItsText() {
        let ok = #"{"tokens":1,"model":"m","usage":{"input_tokens":1}}"#
        #expect(rejection("{nope") == "not valid JSON")
        #expect(rejection("[1]") == "not a JSON object")
        #expect(rejection(line(data: ok).replacingOccurrences(of: #""1.0""#, with: #""0.3""#)) == #"specversion must be "1.0""#)
        #expect(rejection(line(id: "", data: ok)) == "required field id is missing, empty or not a string")
        #expect(rejection(line(source: "", data: ok)) == "required field source is missing, empty or not a string")
        #expect(rejection(line(type: "", data: ok)) == "required field type is missing, empty or not a string")
        #expect(rejection(line(subject: "", data: ok)) == "required field subject is missing, empty or not a string")
        #expect(rejection(line(time: "", data: ok)) == "required field time is missing, empty or not a string")
        #expect(rejection(line(time: "yesterday", data: ok)) == #"time "yesterday" is not an RFC 3339 timestamp"#)
        #expect(rejection(line(type: "video.minutes", data: ok)) == #"unknown event type "video.minutes": no meter has this eventType"#)
        #expect(rejection(line(data: #"{"model":"m","usage":{"input_tokens":1}}"#)) == "meter llm_tokens: no value at $.tokens in data")
        #expect(rejection(line(data: #"{"tokens":null,"usage":{"input_tokens":1}}"#)) == "meter llm_tokens: no value at $.tokens in data")
        #expect(rejection(line(data: #"{"tokens":"ten","usage":{"input_tokens":1}}"#)) == "meter llm_tokens: value at $.tokens is not a number")
        #expect(rejection(line(data: #"{"tokens":1,"usage":{"input_tokens":{}}}"#)) == "meter input_tokens: value at $.usage.input_tokens is not a number")
        #expect(rejection(line(type: "api.request", data: #"{"model":true}"#)) == "meter models: value at $.model is not a string or number")
        #expect(rejection(line(data: #"{"tokens":1e200,"usage":{"input_tokens":1}}"#))
                == "meter llm_tokens: value at $.tokens has more than 38 significant digits or an exponent beyond 127")
        #expect(rejection(line(data: #"{"tokens":"1e200","usage":{"input_tokens":1}}"#))
                == "meter llm_tokens: value at $.tokens has more than 38 significant digits or an exponent beyond 127")
        #expect(rejection(line(type: "api.request", data: #"{}"#)) == "meter models: no value at $.model in data")
    }

    @Test func countIgnoresValueProperty() throws {
        let counting = Meter(slug: "c", name: "C", eventType: "api.request", aggregation: .count, valueProperty: "$.missing")
        let event = try #require(accepted(parser([counting]).parse(line(type: "api.request", data: "{}"))))
        #expect(parser([counting]).reading(of: event, meter: 0) == .count)
    }

    @Test func twoMetersOnOneTypeBothGetTheEvent() throws {
        let p = parser()
        let event = try #require(accepted(p.parse(line(data: #"{"tokens":10,"model":"m1","usage":{"input_tokens":3}}"#))))
        #expect(event.meterIndices == [0, 1])
        #expect(p.reading(of: event, meter: 0) == .number(.integer(10)))
        #expect(p.reading(of: event, meter: 1) == .number(.integer(3)))
        // One meter missing its value rejects the whole event: it is never half billed.
        #expect(rejection(line(data: #"{"tokens":10}"#)) == "meter input_tokens: no value at $.usage.input_tokens in data")
    }

    @Test func unsupportedPathIsRefused() {
        let bad = Meter(slug: "b", name: "B", eventType: "t", aggregation: .sum, valueProperty: "$.items[0]")
        #expect(throws: MeterSet.PathError.self) { try MeterSet(meters: [bad]) }
    }
}
