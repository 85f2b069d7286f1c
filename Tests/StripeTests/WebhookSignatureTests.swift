import Foundation
import Testing
@testable import Stripe

@Suite struct WebhookSignatureTests {
    let secret = WebhookSecret("whsec_test_secret_0123456789abcdefXYZ")
    let payload = Data(#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#.utf8)
    let signedAt: Int64 = 1_767_225_600

    func verify(_ header: String, payload: Data? = nil, secret: WebhookSecret? = nil, now: Int64? = nil) -> WebhookSignatureError? {
        do {
            try WebhookSignature.verify(payload: payload ?? self.payload, header: header, secret: secret ?? self.secret, now: now ?? signedAt + 10)
            return nil
        } catch {
            return error
        }
    }

    @Test func signingMatchesAnIndependentHMACSHA256() {
        // Python: hmac.new(secret, b"1767225600." + payload, hashlib.sha256).hexdigest()
        #expect(WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt)
            == "t=1767225600,v1=a731987c74d69a8a0ef4df2a1aceb9628686b91d37b6ae5e82791d7f9a440735")
    }

    @Test func aGoodSignatureVerifies() {
        let header = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt)
        #expect(verify(header) == nil)
        // At exactly the tolerance it is still accepted.
        #expect(verify(header, now: signedAt + 300) == nil)
    }

    @Test func aTamperedBodyIsRefused() {
        let header = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt)
        let tampered = Data(#"{"id":"evt_1","object":"event","type":"invoice.voided"}"#.utf8)
        #expect(verify(header, payload: tampered) == .noMatchingSignature)
        // The same JSON re-serialized with a space is a different body.
        #expect(verify(header, payload: Data(#"{"id": "evt_1","object":"event","type":"invoice.paid"}"#.utf8)) == .noMatchingSignature)
    }

    @Test func aWrongSecretIsRefused() {
        let header = WebhookSignature.header(payload: payload, secret: WebhookSecret("whsec_another_secret_000000000000"), timestamp: signedAt)
        #expect(verify(header) == .noMatchingSignature)
    }

    @Test func aSignatureOlderThanTheToleranceIsRefused() {
        let header = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt)
        #expect(verify(header, now: signedAt + 301) == .tooOld(seconds: 301, tolerance: 300))
        #expect(WebhookSignatureError.tooOld(seconds: 301, tolerance: 300).description.contains("301 s old, over the 300 s tolerance"))
    }

    @Test func aChangedTimestampBreaksTheSignature() {
        let signature = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt).split(separator: ",")[1]
        #expect(verify("t=\(signedAt + 5),\(signature)") == .noMatchingSignature)
    }

    @Test func anyOfSeveralV1ValuesMayMatch() {
        let good = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt).split(separator: ",")[1]
        let stale = "v1=" + String(repeating: "ab", count: 32)
        #expect(verify("t=\(signedAt),\(stale),\(good)") == nil)
        #expect(verify("t=\(signedAt),\(good),v0=deadbeef") == nil)
        // Read as Stripe's libraries read it: nothing is trimmed, so " v1=" is no v1 at all,
        // and a signature in capitals is not Stripe's lowercase hex.
        #expect(verify("t=\(signedAt), \(good)") == .malformedHeader("no v1=<signature>"))
        #expect(verify("t=\(signedAt),\(good.uppercased().replacingOccurrences(of: "V1=", with: "v1="))") == .malformedHeader("no v1=<signature>"))
        #expect(verify("t=\(signedAt),\(stale),v1=zz") == .noMatchingSignature)
    }

    @Test func aMalformedHeaderIsRefused() {
        let good = WebhookSignature.header(payload: payload, secret: secret, timestamp: signedAt)
        let v1 = good.split(separator: ",")[1]
        #expect(verify("") == .malformedHeader("no t=<timestamp>"))
        #expect(verify(String(v1)) == .malformedHeader("no t=<timestamp>"))
        #expect(verify("t=yesterday,\(v1)") == .malformedHeader("t=yesterday is not a number of seconds"))
        // The first t counts, as in Stripe's libraries.
        #expect(verify("t=\(signedAt - 5),t=\(signedAt),\(v1)") == .noMatchingSignature)
        #expect(verify("t=\(signedAt),t=\(signedAt - 5),\(v1)") == nil)
        #expect(verify("t=\(signedAt)") == .malformedHeader("no v1=<signature>"))
        #expect(verify("t=\(signedAt),v1=not-hex") == .malformedHeader("no v1=<signature>"))
        #expect(verify("garbage") == .malformedHeader("no t=<timestamp>"))
    }

    @Test func errorsNeverShowTheSecret() {
        for error in [WebhookSignatureError.noMatchingSignature, .malformedHeader("no t=<timestamp>"), .tooOld(seconds: 900, tolerance: 300)] {
            #expect(!error.description.contains(secret.revealed))
        }
        #expect("\(secret)" == "whsec_***fXYZ")
    }
}
