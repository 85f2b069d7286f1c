import Foundation

/// Masks Stripe secrets in any text the client produces: error messages (Stripe's own echo the
/// key), log lines, descriptions, URLs and headers.
public enum Redact {
    /// `text` with every `sk_test_…`, `sk_live_…`, `rk_test_…`, `rk_live_…` and `whsec_…` replaced
    /// by its prefix, `***` and its last four characters (`rk_test_***abcd`). A secret too short
    /// to spare four characters loses them all (`sk_test_***`). Stripe's own masked form
    /// (`rk_test_***...abcd`) is left as it is: it holds no secret.
    public static func secrets(in text: String) -> String {
        let key = /(?<prefix>(?:sk|rk)_(?:test|live)_)(?<body>[A-Za-z0-9]+)/
        // Signing secrets are base64 text, which may hold `+`, `/` and padding.
        let signing = /(?<prefix>whsec_)(?<body>[A-Za-z0-9+\/]+)=*/
        return text
            .replacing(key) { mask(prefix: $0.output.prefix, body: $0.output.body) }
            .replacing(signing) { mask(prefix: $0.output.prefix, body: $0.output.body) }
    }

    /// The last four characters of a secret: what a user compares with the Dashboard's list of
    /// keys, and all of the key that Tollbooth ever shows.
    public static func fingerprint<S: StringProtocol>(of secret: S) -> String {
        String(secret.suffix(4))
    }

    static func mask(prefix: Substring, body: Substring) -> String {
        // Showing four of a short body would show too much of it.
        body.count > 8 ? "\(prefix)***\(fingerprint(of: body))" : "\(prefix)***"
    }
}

/// A Stripe API key: a secret key (`sk_`) or a restricted key (`rk_`), in test or live mode.
/// Its description is masked, so printing a key or an error holding one shows no secret.
public struct APIKey: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Kind: String, Sendable { case secret, restricted }
    public enum Mode: String, Sendable { case test, live }

    public let kind: Kind
    public let mode: Mode
    /// The key itself, for the Authorization header and the secrets file only.
    public let revealed: String

    /// Parses a key, trimming surrounding white space (a secrets file ends in a newline).
    /// Anything but `sk_test_`, `sk_live_`, `rk_test_` or `rk_live_` followed by letters and
    /// digits is refused; the message never repeats the text, which may be some other secret.
    public init(_ text: String) throws(StripeError) {
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = key.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        let kinds: [Substring: Kind] = ["sk": .secret, "rk": .restricted]
        let modes: [Substring: Mode] = ["test": .test, "live": .live]
        guard parts.count == 3, let kind = kinds[parts[0]], let mode = modes[parts[1]], !parts[2].isEmpty,
              parts[2].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else {
            let hint = key.hasPrefix("pk_") ? " (a publishable key, pk_, cannot call the API)" : ""
            throw StripeError(invalidInput: "the Stripe key is not a secret key (sk_test_, sk_live_) or a restricted key (rk_test_, rk_live_)\(hint): copy it again from the Stripe Dashboard, Developers > API keys")
        }
        self.kind = kind
        self.mode = mode
        self.revealed = key
    }

    /// The key's last four characters.
    public var fingerprint: String { Redact.fingerprint(of: revealed) }

    /// `rk_test_***abcd`.
    public var description: String { Redact.secrets(in: revealed) }

    public var debugDescription: String { description }
}

/// A webhook endpoint's signing secret (`whsec_…`). Its description is masked.
public struct WebhookSecret: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible, Decodable {
    /// The secret itself, for signing and verifying only.
    public let revealed: String

    public init(_ revealed: String) { self.revealed = revealed }

    public init(from decoder: any Decoder) throws {
        revealed = try decoder.singleValueContainer().decode(String.self)
    }

    public var fingerprint: String { Redact.fingerprint(of: revealed) }

    /// Masked even when the secret lacks its usual prefix.
    public var description: String {
        Redact.mask(prefix: "whsec_", body: revealed.hasPrefix("whsec_") ? revealed.dropFirst(6) : revealed[...])
    }

    public var debugDescription: String { description }
}
