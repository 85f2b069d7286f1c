import Billing
import Foundation

/// What a service token may do at the server.
public enum TokenScope: String, CaseIterable, Sendable {
    case ingest, check, admin
}

/// A service token as stored: never its secret, only a digest and its last 4 characters.
public struct StoredToken: Hashable, Sendable {
    public var id: String
    public var name: String
    public var scope: TokenScope
    public var digest: String
    public var last4: String
    public var createdAt: Instant
    public var revokedAt: Instant?
}

/// A customer's API key as stored.
public struct StoredAPIKey: Hashable, Sendable {
    public var id: String
    public var customerKey: String
    public var digest: String
    public var last4: String
    public var createdAt: Instant
    public var revokedAt: Instant?
}

/// The server's credentials: service tokens and customers' API keys, stored as digests, and
/// the key that signs usage links.
public protocol CredentialRepository: AnyObject {
    func insertToken(id: String, name: String, scope: TokenScope, digest: String, last4: String, at now: Instant) throws
    func tokens() throws -> [StoredToken]
    /// False when there is no such token or it was revoked before.
    func revokeToken(id: String, at now: Instant) throws -> Bool
    func tokenExists(id: String) throws -> Bool
    func insertAPIKey(id: String, customerKey: String, digest: String, last4: String, at now: Instant) throws
    /// API keys, of one customer when `customerKey` is given.
    func apiKeys(customerKey: String?) throws -> [StoredAPIKey]
    func revokeAPIKey(id: String, customerKey: String, at now: Instant) throws -> Bool
    /// The key that signs usage links: the first call stores `fresh`, every later call returns it.
    func usageLinkKey(orStore fresh: [UInt8], at now: Instant) throws -> [UInt8]
}

extension CredentialRepository {
    public func apiKeys() throws -> [StoredAPIKey] { try apiKeys(customerKey: nil) }
}
