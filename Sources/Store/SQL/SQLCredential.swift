import Billing
import Foundation

extension SQLRepositories {
    // MARK: Service tokens

    public func insertToken(id: String, name: String, scope: TokenScope, digest: String, last4: String, at now: Instant) throws {
        try connection.run("INSERT INTO service_tokens (id, name, scope, digest, last4, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [.text(id), .text(name), .text(scope.rawValue), .text(digest), .text(last4), now.sql])
    }

    public func tokens() throws -> [StoredToken] {
        try connection.query("SELECT id, name, scope, digest, last4, created_at, revoked_at FROM service_tokens ORDER BY created_at, id").map {
            StoredToken(id: $0.string(0) ?? "", name: $0.string(1) ?? "", scope: TokenScope(rawValue: $0.string(2) ?? "") ?? .ingest,
                        digest: $0.string(3) ?? "", last4: $0.string(4) ?? "", createdAt: $0.instant(5) ?? Instant(seconds: 0),
                        revokedAt: $0.instant(6))
        }
    }

    /// Revokes a token; false when there is no such token or it was revoked already.
    public func revokeToken(id: String, at now: Instant) throws -> Bool {
        try connection.run("UPDATE service_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now.sql, .text(id)]) == 1
    }

    public func tokenExists(id: String) throws -> Bool {
        try connection.first("SELECT 1 FROM service_tokens WHERE id = ?", [.text(id)]) != nil
    }

    // MARK: API keys

    /// Stores a customer's new key and makes its id one of the customer's usage subjects.
    public func insertAPIKey(id: String, customerKey: String, digest: String, last4: String, at now: Instant) throws {
        try transaction {
            guard try customer(key: customerKey) != nil else { throw StoreInputError("no customer \(customerKey)") }
            try connection.run("INSERT INTO api_keys (id, customer_key, digest, last4, created_at) VALUES (?, ?, ?, ?, ?)",
                             [.text(id), .text(customerKey), .text(digest), .text(last4), now.sql])
            try connection.run("INSERT INTO customer_subjects (subject, customer_key) VALUES (?, ?)", [.text(id), .text(customerKey)])
        }
    }

    public func apiKeys(customerKey: String?) throws -> [StoredAPIKey] {
        let rows = try customerKey.map {
            try connection.query("SELECT id, customer_key, digest, last4, created_at, revoked_at FROM api_keys WHERE customer_key = ? ORDER BY created_at, id",
                               [.text($0)])
        } ?? connection.query("SELECT id, customer_key, digest, last4, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
        return rows.map {
            StoredAPIKey(id: $0.string(0) ?? "", customerKey: $0.string(1) ?? "", digest: $0.string(2) ?? "", last4: $0.string(3) ?? "",
                         createdAt: $0.instant(4) ?? Instant(seconds: 0), revokedAt: $0.instant(5))
        }
    }

    /// Revokes a customer's key; false when the customer has no such key or it was revoked already.
    public func revokeAPIKey(id: String, customerKey: String, at now: Instant) throws -> Bool {
        try connection.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND customer_key = ? AND revoked_at IS NULL",
                         [now.sql, .text(id), .text(customerKey)]) == 1
    }

    // MARK: What the server watches

    /// Every change counter (`attribution`, `credentials`, `payments`), by name.
    public func changeCounters() throws -> [String: Int64] {
        var counters: [String: Int64] = [:]
        for row in try connection.query("SELECT name, value FROM change_counters") { counters[row.string(0) ?? ""] = row.int(1) ?? 0 }
        return counters
    }

    /// Ingest batches newer than `id`: their ids.
    public func ingestBatches(after id: Int64) throws -> [Int64] {
        try connection.query("SELECT id FROM ingest_batches WHERE id > ? ORDER BY id", [.integer(id)]).compactMap { $0.int(0) }
    }

    /// The invoices whose payment state can block access (`payment_failed`, `uncollectible`),
    /// per customer.
    public func blockingPaymentFacts() throws -> [String: [InvoicePaymentFacts]] {
        var result: [String: [InvoicePaymentFacts]] = [:]
        for row in try connection.query("""
            SELECT customer_key, id, status, payment_failed_at FROM invoices WHERE status IN ('payment_failed', 'uncollectible') ORDER BY id
            """) {
            guard let status = InvoiceStatus(rawValue: row.string(2) ?? "") else { continue }
            result[row.string(0) ?? "", default: []].append(InvoicePaymentFacts(id: row.string(1) ?? "", status: status,
                                                                                firstPaymentFailureAt: row.instant(3)))
        }
        return result
    }
}
