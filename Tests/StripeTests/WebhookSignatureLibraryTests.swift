import Foundation
import Testing
import TestSupport
@testable import Stripe

/// `WebhookSignature.verify` against an independent implementation: headers made with Python's
/// `hmac` and judged by Stripe's official library (`stripe.Webhook.construct_event`), at the
/// time the library judged them. Tollbooth must accept exactly what the library accepts.
@Suite struct WebhookSignatureLibraryTests {
    @Test func verifyAgreesWithStripesPythonLibraryOnEveryHeader() throws {
        let secret = "whsec_" + String(repeating: "7Qm", count: 11)
        let corpus = try StripeSignatureCorpus.make(secret: secret)
        #expect(corpus.cases.count == 24)
        // The corpus holds both verdicts, so agreement means something.
        #expect(corpus.cases.filter(\.accepted).count == 7)
        for sample in corpus.cases {
            var ours = false
            if let header = sample.header, !header.isEmpty {
                ours = (try? WebhookSignature.verify(payload: sample.body, header: header, secret: WebhookSecret(secret),
                                                     now: corpus.now)) != nil
            }
            #expect(ours == sample.accepted, "\(sample.name): Stripe's library \(sample.accepted ? "accepts" : "refuses (\(sample.error ?? ""))")")
        }
    }
}
