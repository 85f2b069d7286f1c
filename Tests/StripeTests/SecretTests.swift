import Foundation
import Logging
import TestSupport
import Testing
@testable import Stripe

@Suite struct RedactionTests {
    @Test func everyKindOfSecretIsMaskedToItsPrefixAndLastFour() {
        #expect(Redact.secrets(in: "key sk_test_51Habcdefghij1234 used") == "key sk_test_***1234 used")
        #expect(Redact.secrets(in: "sk_live_51Habcdefghij5678") == "sk_live_***5678")
        #expect(Redact.secrets(in: "rk_test_51Habcdefghijabcd,") == "rk_test_***abcd,")
        #expect(Redact.secrets(in: "(rk_live_51Habcdefghijwxyz)") == "(rk_live_***wxyz)")
        // Base64 with its padding, which is dropped.
        #expect(Redact.secrets(in: "secret whsec_J5bE+x9/AbCdEfGhIj0123== end") == "secret whsec_***0123 end")
    }

    @Test func aShortSecretShowsNoCharacters() {
        #expect(Redact.secrets(in: "sk_test_abc12345") == "sk_test_***")
        #expect(Redact.secrets(in: "whsec_x") == "whsec_***")
    }

    @Test func secretsInURLsHeadersAndStripeMessagesAreMasked() {
        let url = "https://api.stripe.com/v1/customers?key=sk_live_51HxxxxxxxxxxxxxQRST&x=1"
        #expect(Redact.secrets(in: url) == "https://api.stripe.com/v1/customers?key=sk_live_***QRST&x=1")
        #expect(Redact.secrets(in: "Authorization: Bearer rk_live_51HzzzzzzzzzzzzzLMNO") == "Authorization: Bearer rk_live_***LMNO")
        let message = "Invalid API Key provided: sk_test_51HaaaaaaaaaaaaaEFGH"
        #expect(Redact.secrets(in: message) == "Invalid API Key provided: sk_test_***EFGH")
        // Several secrets, each masked on its own.
        #expect(Redact.secrets(in: "sk_test_1111111111AAAA then whsec_2222222222BBBB")
            == "sk_test_***AAAA then whsec_***BBBB")
    }

    @Test func aSecretInsideALongerWordIsMaskedAllTheSame() {
        // A missed secret costs more than a masked word.
        #expect(Redact.secrets(in: "mask_test_abcdefghij1234") == "mask_test_***1234")
    }

    @Test func textWithoutSecretsIsUnchanged() {
        for text in ["pk_test_51Hpublishable0000", "sk_prod_abc", "sk_test_", "The provided key 'rk_test_***...abcd' does not have",
                     "cus_QXg1o8vcGmoR32", ""] {
            #expect(Redact.secrets(in: text) == text)
        }
    }

    @Test func anErrorThatEchoesTheKeyShowsItMasked() throws {
        let transport = FakeTransport(json(errorBody(type: "invalid_request_error", message: "Invalid API Key provided: \(testKey)"), status: 401,
                                           headers: ["Request-Id": "req_401"]))
        let error = try #require(stripeError { () throws(StripeError) in try makeClient(transport).retrieveAccount() })
        #expect(!error.description.contains(testKey))
        #expect(!error.message.contains(testKey))
        #expect(error.description == "Stripe refused GET /v1/account (HTTP 401, invalid_request_error): Invalid API Key provided: sk_test_***wxyz; the key is wrong, expired or rolled: set the current one with `tollbooth stripe rotate-key` (request req_401)")
        #expect("\(error)".contains("sk_test_***wxyz"))
    }

    @Test func logLinesNeverHoldTheKey() throws {
        let recorder = LogRecorder()
        let transport = FakeTransport(json(errorBody(type: "api_error", message: "Internal error for key \(testKey)"), status: 500),
                                      try HTTPResponse(status: 200, body: fixture("account")))
        _ = try makeClient(transport, logger: recorder.logger).retrieveAccount()
        #expect(!recorder.records.isEmpty)
        for record in recorder.records {
            #expect(!record.message.contains(testKey))
            #expect(!record.metadata.values.contains { "\($0)".contains(testKey) })
        }
        #expect(recorder.records.contains { $0.message.contains("sk_test_***wxyz") })
    }

    @Test func theKeyGoesOnlyInTheAuthorizationHeader() throws {
        let transport = FakeTransport(try HTTPResponse(status: 200, body: fixture("account")))
        _ = try makeClient(transport).retrieveAccount()
        let request = try #require(transport.requests.first)
        #expect(request.header("Authorization") == "Bearer \(testKey)")
        #expect(!request.url.contains(testKey))
    }
}

@Suite struct KeyTests {
    @Test func theFourKindsOfKeyParse() throws {
        let cases: [(String, APIKey.Kind, APIKey.Mode)] = [
            ("sk_test_51Habc123", .secret, .test), ("sk_live_51Habc123", .secret, .live),
            ("rk_test_51Habc123", .restricted, .test), ("rk_live_51Habc123", .restricted, .live),
        ]
        for (text, kind, mode) in cases {
            let key = try APIKey(text)
            #expect(key.kind == kind)
            #expect(key.mode == mode)
            #expect(key.revealed == text)
            #expect(key.fingerprint == "c123")
        }
    }

    @Test func surroundingWhiteSpaceFromASecretsFileIsTrimmed() throws {
        #expect(try APIKey("  rk_live_51Habcdefghijklmn\n").revealed == "rk_live_51Habcdefghijklmn")
    }

    @Test func anythingElseIsRefusedWithoutRepeatingIt() {
        for text in ["pk_test_51Hpublic", "sk_prod_51Habc", "whsec_abcdefgh", "sk_test_", "sk_test_abc def", "rk_test_abc-def",
                     "sk_test", "", "ghp_0123456789secret", "SK_TEST_51Habc"] {
            let error = stripeError { () throws(StripeError) in try APIKey(text) }
            #expect(error?.kind == .invalidInput, "\(text)")
            // The parts past the prefix, which may be a secret of some other kind.
            if let error, text.count > 10 { #expect(!error.description.contains(text.dropFirst(5))) }
        }
        let publishable = stripeError { () throws(StripeError) in try APIKey("pk_live_51Hxyz") }
        #expect(publishable?.description.contains("publishable key") == true)
    }

    @Test func aKeyPrintsMasked() throws {
        let key = try APIKey(testKey)
        #expect("\(key)" == "sk_test_***wxyz")
        #expect(String(reflecting: key) == "sk_test_***wxyz")
        let configuration = try StripeConfiguration(apiKey: key)
        #expect(!"\(configuration)".contains(testKey))
        #expect(!String(reflecting: configuration).contains(testKey))
        #expect(WebhookSecret("whsec_0123456789abcdefWXYZ").description == "whsec_***WXYZ")
        #expect(WebhookSecret("not-prefixed-secret-9876").description == "whsec_***9876")
    }
}
