import Billing
import Crypto
import Foundation
import Pipeline
import Store

/// Signed, expiring links to a customer's usage page: `/portal/usage?token=CUSTOMER.EXPIRY.MAC`,
/// where EXPIRY is Unix seconds and MAC the HMAC-SHA256 (base64url, unpadded) of the customer
/// key and the expiry under the installation's link key (stored in the database, made on first
/// use). The link carries no other secret; it opens one customer's page until it expires.
public enum UsageLink {
    /// The longest a link may live.
    public static let maximumLifetime: Int64 = 366 * 86_400
    public static let defaultTTL = ISODuration("P7D")!

    /// Why a token opens nothing.
    enum Refusal: Error, Equatable {
        /// Not a token of this shape, or its MAC does not match (tampered, or another
        /// installation's): 401.
        case invalid
        /// Genuine but past its expiry: 403.
        case expired(Instant)
    }

    /// The expiry of a link made at `now` that lives `ttl`, or why it cannot be made.
    public static func expiry(ttl: ISODuration, now: Instant) -> Result<Instant, UsageLinkError> {
        let expiresAt = ttl.adding(times: 1, to: now)
        guard expiresAt > now else { return .failure(.ttl("the ttl must be a positive ISO 8601 duration such as P7D or PT12H, not \(ttl.text)")) }
        guard expiresAt - now <= maximumLifetime else {
            return .failure(.ttl("the ttl \(ttl.text) is longer than a link may live (P366D at most)"))
        }
        return .success(expiresAt)
    }

    /// A signed link for `customerKey` that opens the page until `expiresAt`.
    public static func url(base: String, customerKey: String, expiresAt: Instant, key: [UInt8]) -> String {
        let token = token(customerKey: customerKey, expiresAt: expiresAt, key: key)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return trimmed + "/portal/usage?token=" + (token.addingPercentEncoding(withAllowedCharacters: allowed) ?? token)
    }

    /// Makes a link with the store's link key (made and stored on first use).
    public static func make(store: any Store, customerKey: String, ttl: ISODuration, base: String, now: Instant) throws -> (url: String, expiresAt: Instant) {
        guard try store.customer(key: customerKey) != nil else { throw UsageLinkError.unknownCustomer(customerKey) }
        let expiresAt = try expiry(ttl: ttl, now: now).get()
        let key = try store.usageLinkKey(orStore: freshKey(), at: now)
        return (url(base: base, customerKey: customerKey, expiresAt: expiresAt, key: key), expiresAt)
    }

    /// The base of the links: `server.publicUrl`, else `http://` + `server.listen`.
    public static func base(_ settings: Settings) -> String {
        settings.server.publicUrl ?? "http://\(settings.server.listen)"
    }

    static func freshKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    static func token(customerKey: String, expiresAt: Instant, key: [UInt8]) -> String {
        "\(customerKey).\(expiresAt.seconds).\(base64url(mac(customerKey: customerKey, expiry: expiresAt.seconds, key: key)))"
    }

    static func mac(customerKey: String, expiry: Int64, key: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(message(customerKey: customerKey, expiry: expiry).utf8), using: SymmetricKey(data: key)))
    }

    static func message(customerKey: String, expiry: Int64) -> String {
        "tollbooth usage link\u{0}\(customerKey)\u{0}\(expiry)"
    }

    /// The customer a token opens the page of at `now`. The MAC is compared in constant time.
    static func verify(_ token: String, key: [UInt8], now: Instant) -> Result<String, Refusal> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let expiry = Int64(parts[parts.count - 2]), let mac = unbase64url(String(parts[parts.count - 1])) else {
            return .failure(.invalid)
        }
        let customerKey = parts.dropLast(2).joined(separator: ".")
        guard !customerKey.isEmpty,
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(message(customerKey: customerKey, expiry: expiry).utf8),
                                                     using: SymmetricKey(data: key)) else {
            return .failure(.invalid)
        }
        guard now.seconds < expiry else { return .failure(.expired(Instant(seconds: expiry))) }
        return .success(customerKey)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ text: String) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        // One spelling per MAC: the unused low bits of the last character must be zero.
        guard let bytes = Data(base64Encoded: standard).map(Array.init), base64url(bytes) == text else { return nil }
        return bytes
    }
}

/// Why a usage link was not made.
public enum UsageLinkError: Error, CustomStringConvertible, Equatable, Sendable {
    case unknownCustomer(String)
    case ttl(String)

    public var description: String {
        switch self {
        case .unknownCustomer(let key): return "no customer \(key): `tollbooth customers list` shows the keys"
        case .ttl(let message): return message
        }
    }
}
