import Crypto
import Foundation

/// Stripe's webhook signature: the `Stripe-Signature` header `t=<unix seconds>,v1=<hex>` where
/// v1 is HMAC-SHA256, keyed with the endpoint's whole signing secret, over "{t}.{raw body}".
/// A header may carry several v1 values (while a secret is rolled); one matching is enough.
public enum WebhookSignature {
    /// Stripe's tolerance: a signature older than five minutes is refused as a possible replay.
    public static let tolerance: Int64 = 300

    /// The header Stripe would send for `payload` signed at `timestamp`: for the simulator and
    /// tests.
    public static func header(payload: Data, secret: WebhookSecret, timestamp: Int64) -> String {
        "t=\(timestamp),v1=\(hex(code(payload: payload, secret: secret, timestamp: timestamp)))"
    }

    /// Checks `header` against the raw body as received (before any parsing), at `now` (Unix
    /// seconds): one v1 must be `secret`'s code. Every v1 value is compared in constant time.
    public static func verify(payload: Data, header: String, secret: WebhookSecret, now: Int64,
                              tolerance: Int64 = WebhookSignature.tolerance) throws(WebhookSignatureError) {
        try verify(payload: payload, header: header, secrets: [secret], now: now, tolerance: tolerance)
    }

    /// As `verify(payload:header:secret:now:)`, where one v1 may be the code of any of
    /// `secrets` (the endpoint's current signing secret and one retired by a rotation).
    public static func verify(payload: Data, header: String, secrets: [WebhookSecret], now: Int64,
                              tolerance: Int64 = WebhookSignature.tolerance) throws(WebhookSignatureError) {
        let parsed = try parse(header)
        let signed = signedPayload(payload, timestamp: parsed.timestamp)
        let matched = secrets.contains { secret in
            let key = SymmetricKey(data: Data(secret.revealed.utf8))
            return parsed.signatures.contains { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key) }
        }
        guard matched else { throw .noMatchingSignature }
        // Checked after the signature, as Stripe does, so only a genuine delivery is called old.
        guard now - parsed.timestamp <= tolerance else { throw .tooOld(seconds: now - parsed.timestamp, tolerance: tolerance) }
    }

    /// A header's `t` and its `v1` signatures, read as Stripe's own libraries read them: items
    /// split at commas with nothing trimmed (" v1=" is not a v1), the first `t` counts, and a
    /// signature is lowercase hex.
    public static func parse(_ header: String) throws(WebhookSignatureError) -> (timestamp: Int64, signatures: [Data]) {
        var timestamps: [Substring] = []
        var signatures: [Data] = []
        for part in header.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamps.append(pair[1])
            case "v1": if let bytes = bytes(fromHex: pair[1]) { signatures.append(bytes) }
            default: continue  // v0 and schemes to come are not ours to check
            }
        }
        guard let first = timestamps.first else { throw .malformedHeader("no t=<timestamp>") }
        guard let timestamp = Int64(first) else { throw .malformedHeader("t=\(first) is not a number of seconds") }
        guard !signatures.isEmpty else { throw .malformedHeader("no v1=<signature>") }
        return (timestamp, signatures)
    }

    static func code(payload: Data, secret: WebhookSecret, timestamp: Int64) -> Data {
        let key = SymmetricKey(data: Data(secret.revealed.utf8))
        return Data(HMAC<SHA256>.authenticationCode(for: signedPayload(payload, timestamp: timestamp), using: key))
    }

    static func signedPayload(_ payload: Data, timestamp: Int64) -> Data {
        Data("\(timestamp).".utf8) + payload
    }

    static func hex(_ bytes: Data) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The bytes of lowercase hex text (as Stripe writes signatures); nil for anything else.
    static func bytes<Text: StringProtocol>(fromHex text: Text) -> Data? {
        guard text.count.isMultiple(of: 2), !text.isEmpty,
              text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        var out = Data(capacity: text.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}

/// Why a webhook delivery was refused; the server answers 400 with this text.
public enum WebhookSignatureError: Error, Hashable, Sendable, CustomStringConvertible {
    case malformedHeader(String)
    case noMatchingSignature
    case tooOld(seconds: Int64, tolerance: Int64)

    public var description: String {
        switch self {
        case .malformedHeader(let what):
            return "the Stripe-Signature header is malformed (\(what)); expected t=<unix seconds>,v1=<hex HMAC-SHA256>"
        case .noMatchingSignature:
            return "no v1 signature in Stripe-Signature matches the body: the webhook signing secret is wrong (check the endpoint's secret in the Stripe Dashboard) or the body was altered on the way"
        case .tooOld(let seconds, let tolerance):
            return "the Stripe-Signature timestamp is \(seconds) s old, over the \(tolerance) s tolerance: a replayed or long-delayed delivery; check the server clock"
        }
    }
}
