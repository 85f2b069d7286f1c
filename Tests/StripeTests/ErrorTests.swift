import Foundation
import Testing
@testable import Stripe

@Suite struct ErrorTests {
    /// Stripe's 403 for a restricted key without `rak`.
    func permissionError(_ rak: String) -> HTTPResponse {
        let message = "The provided key 'rk_test_***...abcd' does not have the required permissions for this endpoint on account 'acct_1Tollbooth'. Having the '\(rak)' permission would allow this request to continue."
        return json(errorBody(type: "invalid_request_error", message: message), status: 403, headers: ["Request-Id": "req_perm"])
    }

    @Test func eachOfTheEightRakNamesMapsToItsRowAndAdvice() throws {
        let expected: [(String, Int, String)] = [
            ("rak_account_read", 1, "Connect Accounts: read"),
            ("rak_customer_write", 2, "Customers: write"),
            ("rak_payment_method_read", 3, "Payment Methods: read"),
            ("rak_checkout_session_write", 4, "Checkout Sessions: write"),
            ("rak_billing_portal_session_write", 5, "Customer portal: write"),
            ("rak_invoice_write", 6, "Invoices: write"),
            ("rak_tax_calculation_write", 7, "Tax Calculations and Transactions: write"),
            ("rak_webhook_endpoint_write", 8, "Webhook Endpoints: write"),
        ]
        #expect(Permission.allCases.map(\.rakName) == expected.map(\.0))
        for (rak, row, setting) in expected {
            let transport = FakeTransport(permissionError(rak))
            let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).createInvoice(InvoiceCreate(customer: "cus_1"), idempotencyKey: "k") })
            #expect(error.status == 403)
            #expect(error.missingPermission == rak)
            #expect(error.permission?.row == row)
            #expect(error.isTransient == false)
            #expect(transport.requests.count == 1)
            #expect(error.description == "Stripe refused POST /v1/invoices (HTTP 403): the restricted key lacks '\(setting)' (\(rak), permission \(row) of 8); edit the restricted key in the Stripe Dashboard and give it '\(setting)' (request req_perm)")
        }
    }

    @Test func theReadNameOfAWritePermissionMapsToTheWriteRow() {
        #expect(Permission(rakName: "rak_customer_read") == .customersWrite)
        #expect(Permission(rakName: "rak_invoice_read") == .invoicesWrite)
        #expect(Permission(rakName: "rak_checkout_session_read") == .checkoutSessionsWrite)
        #expect(Permission(rakName: "rak_webhook_endpoint_read") == .webhookEndpointsWrite)
    }

    /// DESIGN.md "Stripe": names map by resource family, singular or plural, whatever the
    /// action suffix; accounts take any `rak_account*`.
    @Test func permissionNamesMapByResourceFamily() {
        let rows: [(String, Permission)] = [
            ("rak_accounts_kyc_basic_read", .connectAccountsRead), ("rak_account_read", .connectAccountsRead),
            ("rak_accounts_read", .connectAccountsRead), ("rak_account_write", .connectAccountsRead),
            ("rak_customers_write", .customersWrite), ("rak_customer_*", .customersWrite),
            ("rak_payment_methods_read", .paymentMethodsRead), ("rak_payment_method_write", .paymentMethodsRead),
            ("rak_checkout_sessions_write", .checkoutSessionsWrite), ("rak_checkout_session_read", .checkoutSessionsWrite),
            ("rak_billing_portal_session_write", .customerPortalWrite), ("rak_billing_portal_sessions_write", .customerPortalWrite),
            ("rak_billing_portal_configuration_read", .customerPortalWrite), ("rak_customer_portal_write", .customerPortalWrite),
            ("rak_invoices_*", .invoicesWrite), ("rak_invoice_write", .invoicesWrite), ("rak_invoices_read", .invoicesWrite),
            ("rak_invoiceitems_write", .invoicesWrite), ("rak_invoice_items_write", .invoicesWrite),
            ("rak_tax_calculations_*", .taxCalculationsAndTransactionsWrite), ("rak_tax_calculation_write", .taxCalculationsAndTransactionsWrite),
            ("rak_tax_transactions_write", .taxCalculationsAndTransactionsWrite),
            ("rak_webhook_endpoints_*", .webhookEndpointsWrite), ("rak_webhook_endpoint_write", .webhookEndpointsWrite),
        ]
        for (name, row) in rows { #expect(Permission(rakName: name) == row, "\(name)") }
    }

    @Test func aNameOutsideTheEightFamiliesHasNoRow() {
        for name in ["rak_event_read", "rak_events_*", "rak_tax_rate_write", "rak_tax_rates_read", "rak_charge_read",
                     "rak_payment_intent_read", "rak_checkout_write", "rak_customerx_read", "rak_webhooks_read", "invoice_write"] {
            #expect(Permission(rakName: name) == nil, "\(name)")
        }
    }

    @Test func aPluralWildcardNameInA403IsMappedToItsRow() throws {
        let transport = FakeTransport(permissionError("rak_invoices_*"))
        let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).retrieveInvoice("in_1") })
        #expect(error.missingPermission == "rak_invoices_*")
        #expect(error.permission == .invoicesWrite)
        #expect(error.description.contains("lacks 'Invoices: write' (rak_invoices_*, permission 6 of 8)"))
    }

    @Test func aPermissionOutsideTheEightIsNamedButHasNoRow() throws {
        let transport = FakeTransport(permissionError("rak_event_read"))
        let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).listEvents() })
        #expect(error.missingPermission == "rak_event_read")
        #expect(error.permission == nil)
        #expect(error.description.contains("lacks rak_event_read, which is not one of the eight permissions Tollbooth asks for"))
    }

    @Test func theEightRowsHaveTheirTableNames() {
        #expect(Permission.allCases.map(\.displayName) == [
            "Connect Accounts read", "Customers write", "Payment Methods read", "Checkout Sessions write",
            "Customer portal write", "Invoices write", "Tax Calculations and Transactions write", "Webhook Endpoints write",
        ])
        #expect(Permission.allCases.map(\.row) == Array(1...8))
    }

    @Test func aCardErrorKeepsItsDeclineCodeAndRequestID() throws {
        let body = errorBody(type: "card_error", message: "Your card has insufficient funds.", code: "card_declined",
                             declineCode: "insufficient_funds", param: "payment_method")
        let transport = FakeTransport(json(body, status: 402, headers: ["Request-Id": "req_card1"]))
        let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).payInvoice("in_1", idempotencyKey: "pay-7") })
        #expect(error.kind == .api)
        #expect(error.type == "card_error")
        #expect(error.code == "card_declined")
        #expect(error.declineCode == "insufficient_funds")
        #expect(error.param == "payment_method")
        #expect(error.requestId == "req_card1")
        #expect(error.isTransient == false)
        #expect(transport.requests.count == 1)
        #expect(error.description == "Stripe refused POST /v1/invoices/in_1/pay (HTTP 402, card_error, code card_declined, decline code insufficient_funds, param payment_method): Your card has insufficient funds. (request req_card1)")
    }

    @Test func aBodyThatIsNotAStripeErrorIsQuoted() throws {
        let transport = FakeTransport(HTTPResponse(status: 502, body: Data("<html>Bad gateway</html>".utf8)))
        let error = try #require(stripeError { () throws(StripeError) in
            try makeClient(transport, policy: instantPolicy(maxAttempts: 1)).retrieveAccount()
        })
        #expect(error.status == 502)
        #expect(error.type == nil)
        #expect(error.message == "HTTP 502 without a Stripe error body: <html>Bad gateway</html>")
        #expect(error.isTransient)
    }

    @Test func rateLimitingAdvisesLoweringThePace() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "Too many requests.", code: "rate_limit"), status: 429))
        let error = try #require(stripeError { () throws(StripeError) in
            try makeClient(transport, policy: instantPolicy(maxAttempts: 2)).retrieveAccount()
        })
        #expect(error.description.contains("after 2 attempts"))
        #expect(error.description.contains("lower stripe.requestsPerSecond or stripe.endpointRequestsPerSecond"))
    }

    @Test func aSuccessThatDoesNotDecodeNamesTheField() throws {
        let transport = FakeTransport(json(#"{"id":"in_1","object":"invoice"}"#, headers: ["Request-Id": "req_dec"]))
        let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).retrieveInvoice("in_1") })
        #expect(error.kind == .decoding)
        #expect(error.requestId == "req_dec")
        #expect(error.description.hasPrefix("Stripe's answer to GET /v1/invoices/in_1 was not what the client expected: not a StripeInvoice: "))
        #expect(error.description.contains("is missing"))
        #expect(error.description.hasSuffix("(request req_dec)"))
    }
}

@Suite struct ProbeTests {
    @Test func everyProbeIsAReadOrAWriteThatCannotSucceed() {
        for permission in Permission.allCases {
            let probe = permission.probe
            #expect(probe.method == (permission.access == .read ? .get : .post), "\(permission)")
            if permission.access == .write {
                // An update of, or a call about, an object that does not exist.
                #expect(probe.path.contains("tollbooth_readiness_probe") || probe.form.fields.contains { $0.value.contains("tollbooth_readiness_probe") }, "\(permission)")
            }
        }
        #expect(Permission.invoicesWrite.probe.path == "/v1/invoices/in_tollbooth_readiness_probe")
        #expect(Permission.connectAccountsRead.probe.path == "/v1/account")
    }

    @Test func aNotFoundAnswerGrantsAndA403NamingThePermissionIsMissing() throws {
        let notFound = FakeTransport(json(errorBody(type: "invalid_request_error", message: "No such invoice: 'in_tollbooth_readiness_probe'", code: "resource_missing"), status: 404))
        let granted = try makeClient(notFound).probe(.invoicesWrite, idempotencyKey: "readiness-1-6")
        guard case .granted = granted else { Issue.record("expected granted, got \(granted)"); return }
        #expect(notFound.requests.first?.header("Idempotency-Key") == "readiness-1-6")
        #expect(notFound.requests.first?.url == "https://api.stripe.com/v1/invoices/in_tollbooth_readiness_probe")

        let forbidden = FakeTransport(ErrorTests().permissionError("rak_invoice_write"))
        let missing = try makeClient(forbidden).probe(.invoicesWrite, idempotencyKey: "readiness-1-6")
        guard case .missing(let error) = missing else { Issue.record("expected missing, got \(missing)"); return }
        #expect(error.permission == .invoicesWrite)

        let account = FakeTransport(try HTTPResponse(status: 200, body: fixture("account")))
        guard case .granted = try makeClient(account).probe(.connectAccountsRead, idempotencyKey: "unused") else {
            Issue.record("expected granted"); return
        }
        #expect(account.requests.first?.header("Idempotency-Key") == nil)
    }

    @Test func aKeyStripeDoesNotAcceptThrows() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "Invalid API Key provided: rk_test_***abcd"), status: 401))
        let error = stripeError { () throws(StripeError) in try makeClient(transport).probe(.customersWrite, idempotencyKey: "k") }
        #expect(error?.status == 401)
    }
}

@Suite struct BaseURLTests {
    @Test func httpsIsAccepted() throws {
        #expect(try StripeConfiguration(apiKey: APIKey(testKey)).baseURL == "https://api.stripe.com")
        #expect(try StripeConfiguration(apiKey: APIKey(testKey), baseURL: "https://stripe.internal.example:8443/").baseURL
            == "https://stripe.internal.example:8443")
    }

    @Test func plainHTTPIsAcceptedOnlyOnLoopback() throws {
        for url in ["http://127.0.0.1:12111", "http://localhost:12111", "http://[::1]:12111", "http://LOCALHOST/"] {
            #expect(throws: Never.self) { try StripeConfiguration(apiKey: APIKey(testKey), baseURL: url) }
        }
        for url in ["http://api.stripe.com", "http://10.0.0.5:12111", "http://127.0.0.2:12111", "http://localhost.example.com",
                    "http://192.168.1.10"] {
            let error = stripeError { () throws(StripeError) in try StripeConfiguration(apiKey: APIKey(testKey), baseURL: url) }
            #expect(error?.kind == .invalidInput, "\(url)")
            #expect(error?.description.contains("http only on 127.0.0.1, ::1 or localhost") == true, "\(url)")
        }
    }

    @Test func otherSchemesAndURLsWithExtrasAreRefused() {
        for url in ["ftp://api.stripe.com", "api.stripe.com", "https://", "https://api.stripe.com?x=1",
                    "https://user:pw@api.stripe.com", "https://api.stripe.com#top", ""] {
            let error = stripeError { () throws(StripeError) in try StripeConfiguration(apiKey: APIKey(testKey), baseURL: url) }
            #expect(error?.kind == .invalidInput, "\(url)")
        }
    }

    @Test func requestsGoToTheConfiguredBase() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("account")))
        _ = try makeClient(transport, baseURL: "http://127.0.0.1:12111/").retrieveAccount()
        #expect(transport.requests.first?.url == "http://127.0.0.1:12111/v1/account")
    }
}
