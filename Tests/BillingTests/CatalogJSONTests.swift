import Foundation
import Testing
@testable import Billing

@Suite struct CatalogJSONTests {
    @Test func numbersKeepTheirTextAndBooleansStayBooleans() throws {
        let value = try JSONValue.parse(#"{"a": 12345678901234567890.5, "b": true, "c": 1, "d": -0.0004e-2, "e": null}"#)
        #expect(value["a"] == .number("12345678901234567890.5"))
        #expect(value["b"] == .bool(true))
        #expect(value["c"] == .number("1"))
        #expect(value["d"] == .number("-0.0004e-2"))
        #expect(value["e"] == .null)
    }

    @Test func stringsDecodeEscapes() throws {
        let value = try JSONValue.parse(#"["a\"b\\c\/d\n", "\u00e9\ud83d\ude00", "日本"]"#)
        #expect(value == .array([.string("a\"b\\c/d\n"), .string("é😀"), .string("日本")]))
    }

    @Test func canonicalTextSortsMembersAndRoundTrips() throws {
        let value = try JSONValue.parse(#"{"b": [1, {"z": "\u0001", "a": false}], "a": "x\ty"}"#)
        let text = value.text()
        #expect(text == #"{"a":"x\ty","b":[1,{"a":false,"z":"\u0001"}]}"#)
        #expect(try JSONValue.parse(text).text() == text)
    }

    @Test(arguments: [
        ("", "not valid JSON at line 1, column 1: the file is empty"),
        ("{\"a\": 1,\n \"a\": 2}", "not valid JSON at line 2, column 2: the field \"a\" appears twice in the same object"),
        ("[1, 2", "not valid JSON at line 1, column 6: expected ',' or ']' after an array item"),
        ("[01]", "not valid JSON at line 1, column 3: expected ',' or ']' after an array item"),
        ("{\"a\": tru}", "not valid JSON at line 1, column 7: unexpected character 't'"),
        ("\"open", "not valid JSON at line 1, column 6: a string is not closed with '\"'"),
        ("[1] [2]", "not valid JSON at line 1, column 5: unexpected text after the end of the document"),
        ("[1.]", "not valid JSON at line 1, column 4: a number needs digits after the decimal point"),
    ])
    func syntaxErrorsSayWhere(text: String, message: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(text) }
        do {
            _ = try JSONValue.parse(text)
        } catch {
            #expect(error.message == message)
        }
    }

    @Test func byteOrderMarkIsSkipped() throws {
        let data = Data([0xEF, 0xBB, 0xBF]) + Data("[true]".utf8)
        #expect(try JSONValue.parse(data) == .array([.bool(true)]))
    }
}
