import Foundation

/// Stripe-Signature headers made independently of Tollbooth (Python's `hmac`, as Stripe's
/// documentation describes) for a given signing secret, each with the verdict of Stripe's
/// official Python library (`stripe.Webhook.construct_event`): see `stripe_signatures.py`.
public struct StripeSignatureCorpus: Sendable {
    public struct Case: Sendable {
        public let name: String
        public let body: Data
        /// The header sent; nil for none.
        public let header: String?
        /// Whether Stripe's library accepted it.
        public let accepted: Bool
        /// The library's reason when it refused.
        public let error: String?
    }

    /// When the headers were made, in Unix seconds: the library judged their age at this time.
    public let now: Int64
    public let cases: [Case]

    /// Makes the corpus for `secret`, installing Stripe's library in a virtual environment on
    /// first use.
    public static func make(secret: String) throws -> StripeSignatureCorpus {
        let environment = try PythonTools.environment("tollbooth-stripe-python-venv", packages: ["stripe"], probe: "import stripe")
        let result = try PythonTools.run(environment + "/bin/python", [PythonTools.script("stripe_signatures.py"), secret])
        guard result.status == 0 else { throw PythonTools.Failure(message: "stripe_signatures.py failed: \(result.stderr)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let now = object["now"] as? Int, let rows = object["cases"] as? [[String: Any]] else {
            throw PythonTools.Failure(message: "stripe_signatures.py printed no corpus: \(result.stdout.prefix(200))")
        }
        let cases = rows.map {
            Case(name: $0["name"] as? String ?? "", body: Data(($0["body"] as? String ?? "").utf8), header: $0["header"] as? String,
                 accepted: $0["accepted"] as? Bool ?? false, error: $0["error"] as? String)
        }
        return StripeSignatureCorpus(now: Int64(now), cases: cases)
    }
}
