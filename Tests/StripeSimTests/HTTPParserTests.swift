import Testing
@testable import StripeSim

@Suite struct HTTPParserTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func oneRequestWithBody() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("POST /v1/customers?expand[]=x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nIdempotency-Key: k1\r\n\r\nemail=a"))
        let request = try #require(try parser.next())
        #expect(request.method == "POST")
        #expect(request.path == "/v1/customers")
        #expect(request.query == "expand[]=x")
        #expect(request.header("idempotency-key") == "k1")
        #expect(request.header("IDEMPOTENCY-KEY") == "k1")
        #expect(request.body == bytes("email=a"))
        #expect(request.keepAlive)
        #expect(try parser.next() == nil)
    }

    @Test func pipelinedRequestsComeOutInOrder() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET /c HTTP/1.1\r\n\r\n"))
        #expect(try parser.next()?.path == "/a")
        #expect(try parser.next()?.body == bytes("ok"))
        #expect(try parser.next()?.path == "/c")
        #expect(try parser.next() == nil)
    }

    @Test func bytesArrivingOneAtATime() throws {
        var parser = HTTPRequestParser()
        var found: [HTTPRequest] = []
        for byte in bytes("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\r\n\r\n") {
            parser.append([byte])
            while let request = try parser.next() { found.append(request) }
        }
        #expect(found.map(\.path) == ["/x", "/y"])
        #expect(found.first?.body == bytes("abc"))
    }

    @Test func expectContinueIsAskedForUntilTheBodyArrives() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"))
        #expect(try parser.next() == nil)
        #expect(parser.awaitsContinue)
        parser.append(bytes("body"))
        #expect(try parser.next()?.body == bytes("body"))
        #expect(!parser.awaitsContinue)
    }

    @Test func connectionCloseAndHTTP10() throws {
        var parser = HTTPRequestParser()
        parser.append(bytes("GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
        #expect(try parser.next()?.keepAlive == false)
        #expect(try parser.next()?.keepAlive == false)
        #expect(try parser.next()?.keepAlive == true)
    }

    @Test func refusals() {
        func status(_ text: String) -> Int? {
            var parser = HTTPRequestParser()
            parser.append(Array(text.utf8))
            do { _ = try parser.next(); return nil } catch { return error.status }
        }
        #expect(status("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501)
        #expect(status("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400)
        #expect(status("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == 400)
        #expect(status("POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n") == 413)
        #expect(status("GET /x HTTP/2.0\r\n\r\n") == 505)
        #expect(status("NONSENSE\r\n\r\n") == 400)
        #expect(status("GET /x HTTP/1.1\r\nNo colon here\r\n\r\n") == 400)
        #expect(status("GET /x HTTP/1.1\r\n" + String(repeating: "a", count: 70_000)) == 431)
    }

    @Test func responseSerialisation() {
        let response = HTTPResponse(status: 402, headers: [("Request-Id", "req_1")], body: Array("{}".utf8))
        let text = String(decoding: response.serialized(keepAlive: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 402 Payment Required\r\nRequest-Id: req_1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    }
}

@Suite struct RulesTests {
    @Test func roundingIsHalfAwayFromZero() {
        #expect(divideRounded(5, 2) == 3)
        #expect(divideRounded(-5, 2) == -3)
        #expect(divideRounded(4, 3) == 1)
        #expect(divideRounded(-4, 3) == -1)
    }

    @Test func percentageTaxes() throws {
        let vat = try #require(Percentage("19"))
        // 1234 x 0.19 = 234.46 -> 234
        #expect(vat.exclusiveTax(on: 1234) == 234)
        // 11900 - round(11900 / 1.19) = 11900 - 10000 = 1900
        #expect(vat.inclusiveTax(in: 11900) == 1900)
        let sales = try #require(Percentage("8.875"))
        // 1000 x 0.08875 = 88.75 -> 89
        #expect(sales.exclusiveTax(on: 1000) == 89)
        #expect(Percentage("101") == nil)
        #expect(Percentage("abc") == nil)
        #expect(Percentage("1.") == nil)
    }

    @Test func minimumChargeTable() {
        #expect(MinimumCharge.amount("usd") == 50)
        #expect(MinimumCharge.amount("eur") == 50)
        #expect(MinimumCharge.amount("jpy") == 50)
        #expect(MinimumCharge.amount("gbp") == 30)
    }

    @Test func unitAmountDecimal() {
        #expect(StripeSim.unitAmountDecimal(1000, 1) == "1000")
        #expect(StripeSim.unitAmountDecimal(1000, 3) == "333.333333333333")
        #expect(StripeSim.unitAmountDecimal(-1, 2) == "-0.5")
    }

    @Test func signatureMatchesAnIndependentHMAC() {
        // python3: hmac.new(b'whsec_test_secret', b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
        let header = WebhookSignature.header(secret: "whsec_test_secret", timestamp: 1_700_000_000, body: Array(#"{"id":"evt_1"}"#.utf8))
        #expect(header == "t=1700000000,v1=248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a")
    }

    @Test func keysAreMaskedToTheirLastFour() {
        #expect(APIKey.mask("rk_test_abcdefgh1234") == "rk_test_********1234")
        #expect(APIKey("sk_live_x")?.mode == .live)
        #expect(APIKey("pk_test_x") == nil)
        #expect(APIKey("sk_test_") == nil)
    }

    @Test func writePermissionImpliesRead() throws {
        let granted: Set<Permission> = [try #require(Permission(rakName: "rak_invoice_write"))]
        #expect(Permission(.invoice, write: false).isGranted(by: granted))
        #expect(!Permission(.customer, write: false).isGranted(by: granted))
        #expect(Permission(rakName: "rak_nothing_write") == nil)
    }

    @Test func stripesPermissionNamesAreAcceptedAndUsed() throws {
        #expect(Permission(rakName: "rak_invoices_write") == Permission(.invoice, write: true))
        #expect(Permission(rakName: "rak_accounts_kyc_basic_read") == Permission(.account, write: false))
        #expect(Permission(rakName: "rak_webhook_endpoints_read") == Permission(.webhookEndpoint, write: false))
        #expect(Permission(.account, write: false).stripeName == "rak_accounts_kyc_basic_read")
        #expect(Permission(.invoice, write: true).stripeName == "rak_invoices_write")
        #expect(Permission(.taxCalculation, write: true).stripeName == "rak_tax_calculations_write")
        #expect(Permission(.webhookEndpoint, write: true).stripeName == "rak_webhook_endpoints_write")
        #expect(Permission(.customer, write: true).stripeName == "rak_customer_write")
    }

    @Test func commandLine() throws {
        let options = try SimulatorOptions.parse(["--port", "0", "--limits", "live", "--endpoint-rps", "3", "--live", "--account", "acct_X1"])
        #expect(options.port == 0)
        #expect(options.configuration.globalPerSecond == 100)
        #expect(options.configuration.endpointPerSecond == 3)
        #expect(options.live)
        #expect(options.account == "acct_X1")
        let defaults = try SimulatorOptions.parse([]).configuration
        #expect(defaults.globalPerSecond == 25)
        #expect(defaults.endpointPerSecond == 25)
        let none = try SimulatorOptions.parse(["--limits", "none", "--global-rps", "7"]).configuration
        #expect(none.globalPerSecond == 7)
        #expect(none.endpointPerSecond == nil)
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--port", "70000"]) }
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--global-rps", "0"]) }
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--limits", "test"]) }
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--writes-per-second", "3"]) }
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--account", "cus_1"]) }
        #expect(throws: SimulatorOptions.Problem.self) { try SimulatorOptions.parse(["--verbose"]) }
    }

    @Test func slidingWindowsAdmitTheGlobalAndTheEndpointLimitPerSecond() {
        var state = SimState(configuration: SimulatorConfiguration(), now: 0)
        var configuration = SimulatorConfiguration()
        configuration.globalPerSecond = 3
        configuration.endpointPerSecond = 2
        let create = "POST /v1/invoices", finalize = "POST /v1/invoices/{invoice}/finalize"
        let requests: [(String, String, Double)] = [("a", create, 10.0), ("a", create, 10.1), ("a", create, 10.2), ("a", finalize, 10.3),
                                                    ("a", finalize, 10.4), ("b", create, 10.9), ("a", create, 11.05), ("a", finalize, 11.06)]
        let admitted = requests.map { state.admit(account: $0.0, endpoint: $0.1, at: $0.2, configuration: configuration) }
        // The third create is over its endpoint's 2; the first finalize makes the global 3 and
        // the second is over it; another account counts apart; the first create leaves the
        // windows at 11.0, making room for one more create, and the global window is full again.
        #expect(admitted == [true, true, false, true, false, true, true, false])
    }
}
