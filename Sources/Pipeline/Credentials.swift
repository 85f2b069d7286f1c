import Crypto
import Foundation
import Store

/// Secrets for the server: service tokens (`tbt_`) and customers' API keys (`tb_test_`,
/// `tb_live_`), each 32 random base62 characters after its prefix. A secret is shown once; the
/// store keeps its SHA-256 digest (hex) and last 4 characters.
public enum Credentials {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// 32 base62 characters from the system's random source (rejection sampling: no bias).
    static func randomBase62(count: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        var characters: [Character] = []
        while characters.count < count {
            let byte = UInt8.random(in: 0...255, using: &generator)
            if byte < 248 { characters.append(alphabet[Int(byte) % 62]) }
        }
        return String(characters)
    }

    /// The SHA-256 of a secret in lower-case hex (asked on every request: no formatting calls).
    public static func digest(_ secret: String) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(secret.utf8)) {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A new service token: its secret (to show once) and what is stored.
    public static func newToken(scope: TokenScope, name: String) -> (secret: String, id: String, digest: String, last4: String) {
        let secret = "tbt_" + randomBase62()
        return (secret, "tok_" + randomBase62(count: 16).lowercased(), digest(secret), String(secret.suffix(4)))
    }

    /// A new API key for an installation (`tb_live_` in production, else `tb_test_`).
    public static func newAPIKey(production: Bool) -> NewAPIKey {
        let secret = (production ? "tb_live_" : "tb_test_") + randomBase62()
        return NewAPIKey(id: "key_" + randomBase62(count: 16).lowercased(), digest: digest(secret), last4: String(secret.suffix(4)), secret: secret)
    }
}

/// A customer's new API key: the secret to show once and what is stored of it.
public struct NewAPIKey: Sendable {
    public let id: String
    public let digest: String
    public let last4: String
    public let secret: String

    public init(id: String, digest: String, last4: String, secret: String) {
        self.id = id
        self.digest = digest
        self.last4 = last4
        self.secret = secret
    }
}
