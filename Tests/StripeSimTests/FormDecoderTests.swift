import Testing
@testable import StripeSim

@Suite struct FormDecoderTests {
    @Test func plainValuesAndPercentEncoding() throws {
        let values = try FormDecoder.decode("email=a%2Bb%40example.com&name=Ann+Lee&description=100%25&empty=")
        #expect(values["email"] == .string("a+b@example.com"))
        #expect(values["name"] == .string("Ann Lee"))
        #expect(values["description"] == .string("100%"))
        #expect(values["empty"] == .string(""))
    }

    @Test func nestedObjects() throws {
        let values = try FormDecoder.decode("metadata[order]=42&metadata[note]=x&customer_details[address][country]=DE")
        #expect(values["metadata"] == .object(["order": .string("42"), "note": .string("x")]))
        #expect(values["customer_details"]?["address"]?["country"] == .string("DE"))
    }

    @Test func indexedArraysKeepIndexOrderWhateverTheKeyOrder() throws {
        let values = try FormDecoder.decode("line_items[1][amount]=200&line_items[0][amount]=100&line_items[0][reference]=a")
        #expect(values["line_items"] == .array([
            .object(["amount": .string("100"), "reference": .string("a")]),
            .object(["amount": .string("200")]),
        ]))
    }

    @Test func appendedArrays() throws {
        let values = try FormDecoder.decode("enabled_events[]=invoice.paid&enabled_events[]=invoice.voided&expand[0]=lines")
        #expect(values["enabled_events"] == .array([.string("invoice.paid"), .string("invoice.voided")]))
        #expect(values["expand"] == .array([.string("lines")]))
    }

    @Test func percentEncodedBrackets() throws {
        let values = try FormDecoder.decode("metadata%5Btollbooth_line%5D=l%201")
        #expect(values["metadata"] == .object(["tollbooth_line": .string("l 1")]))
    }

    @Test func deeplyNestedArrayOfObjects() throws {
        let values = try FormDecoder.decode(
            "lines[0][id]=il_1&lines[0][tax_amounts][0][amount]=19&lines[0][tax_amounts][0][tax_rate_data][percentage]=19")
        let tax = values["lines"]?.array?.first?["tax_amounts"]?.array?.first
        #expect(tax?["amount"] == .string("19"))
        #expect(tax?["tax_rate_data"]?["percentage"] == .string("19"))
    }

    @Test func aValueAndNestedValuesUnderOneNameAreRefused() {
        #expect(throws: FormError.self) { try FormDecoder.decode("metadata=x&metadata[a]=b") }
        #expect(throws: FormError.self) { try FormDecoder.decode("a[]=1&a[b]=2") }
    }

    @Test func malformedNamesAndEncodingsAreRefused() {
        #expect(throws: FormError.self) { try FormDecoder.decode("a[b=1") }
        #expect(throws: FormError.self) { try FormDecoder.decode("[a]=1") }
        #expect(throws: FormError.self) { try FormDecoder.decode("a=%zz") }
        #expect(throws: FormError.self) { try FormDecoder.decode("a=%ff") }
    }

    @Test func emptyBodyIsNoParameters() throws {
        #expect(try FormDecoder.decode("").isEmpty)
        #expect(try FormDecoder.decode("&&").isEmpty)
    }
}

@Suite struct ParamShapeTests {
    private func check(_ operation: String, _ body: String) throws -> APIError? {
        let shape = try #require(ParamShape.operations[operation])
        guard case let .object(properties, required) = shape else { Issue.record("not an object"); return nil }
        return ParamShape.check(try FormDecoder.decode(body), properties: properties, required: required, prefix: nil)
    }

    @Test func everyServedOperationHasItsParameters() {
        for route in Router.routes {
            #expect(ParamShape.operations[route.operation] != nil, "\(route.operation)")
        }
    }

    @Test func unknownNestedParameterIsNamedWithBrackets() throws {
        let problem = try check("POST /v1/tax/calculations", "currency=usd&line_items[0][amount]=1&line_items[0][colour]=red")
        #expect(problem?.code == "parameter_unknown")
        #expect(problem?.param == "line_items[0][colour]")
    }

    @Test func missingRequiredParameter() throws {
        let problem = try check("POST /v1/webhook_endpoints", "url=https://example.com/hook")
        #expect(problem?.code == "parameter_missing")
        #expect(problem?.param == "enabled_events")
        #expect(problem?.message == "Missing required param: enabled_events.")
    }

    @Test func invalidIntegerAndEnum() throws {
        #expect(try check("POST /v1/invoiceitems", "customer=cus_1&amount=12.5")?.code == "parameter_invalid_integer")
        let problem = try check("POST /v1/checkout/sessions", "mode=rental")
        #expect(problem?.param == "mode")
        #expect(problem?.message == "Invalid mode: must be one of payment, setup, or subscription")
    }

    @Test func emptyStringUnsetsWhereStripeAllowsIt() throws {
        #expect(try check("POST /v1/customers/{customer}", "metadata=&address=") == nil)
    }
}
