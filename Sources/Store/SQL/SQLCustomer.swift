import Billing
import Foundation

extension SQLRepositories {
    /// Adds new customers and updates known ones (by key), all or nothing. A subject key that
    /// belongs to another customer, or a currency change for a customer whose subscriptions are
    /// priced in the old one, is refused.
    public func importCustomers(_ customers: [Customer], at now: Instant) throws -> (added: Int, updated: Int) {
        try transaction {
            var added = 0, updated = 0
            for customer in customers {
                if let old = try self.customer(key: customer.key) {
                    if old.currency != customer.currency, let currency = customer.currency {
                        let other = try connection.first(
                            "SELECT p.currency FROM subscriptions s JOIN plans p ON p.key = s.plan_key AND p.version = s.plan_version WHERE s.customer_key = ? AND p.currency <> ? LIMIT 1",
                            [.text(customer.key), .text(currency.code)])
                        if let code = other?.string(0) {
                            throw StoreInputError("customer \(customer.key): cannot change currency to \(currency.code), its subscriptions are priced in \(code)")
                        }
                    }
                    try connection.run("UPDATE customers SET name = ?, email = ?, currency = ?, json = ?, updated_at = ? WHERE key = ?",
                                     [.text(customer.name), SQLValue(customer.email), SQLValue(customer.currency?.code),
                                      .text(String(decoding: CustomerReader.json(customer), as: UTF8.self)), now.sql, .text(customer.key)])
                    // The customer's API key ids are subjects too; they are not the file's to drop.
                    try connection.run("DELETE FROM customer_subjects WHERE customer_key = ? AND subject NOT IN (SELECT id FROM api_keys)",
                                     [.text(customer.key)])
                    updated += 1
                } else {
                    try connection.run("INSERT INTO customers (key, name, email, currency, json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     [.text(customer.key), .text(customer.name), SQLValue(customer.email), SQLValue(customer.currency?.code),
                                      .text(String(decoding: CustomerReader.json(customer), as: UTF8.self)), now.sql, now.sql])
                    added += 1
                }
                for subject in customer.subjectKeys {
                    if let owner = try connection.first("SELECT customer_key FROM customer_subjects WHERE subject = ?", [.text(subject)])?.string(0) {
                        throw StoreInputError("customer \(customer.key): subject key \(subject) already belongs to customer \(owner)")
                    }
                    try connection.run("INSERT INTO customer_subjects (subject, customer_key) VALUES (?, ?)", [.text(subject), .text(customer.key)])
                }
            }
            return (added, updated)
        }
    }

    public func customer(key: String) throws -> Customer? {
        guard let json = try connection.first("SELECT json FROM customers WHERE key = ?", [.text(key)])?.string(0) else { return nil }
        return try CustomerReader.read(Data("[\(json)]".utf8))[0]
    }

    public func customers() throws -> [Customer] {
        let rows = try connection.query("SELECT json FROM customers ORDER BY key")
        guard !rows.isEmpty else { return [] }
        return try CustomerReader.read(Data(("[" + rows.map { $0.string(0) ?? "" }.joined(separator: ",") + "]").utf8))
    }

    /// Every customer's currency (nil when it has none), without reading whole customers.
    public func customerCurrencies() throws -> [String: Currency?] {
        var result: [String: Currency?] = [:]
        for row in try connection.query("SELECT key, currency FROM customers") {
            result[row.string(0) ?? ""] = .some(row.string(1).flatMap(Currency.init(code:)))
        }
        return result
    }

    /// subject -> customer key, for attributing events.
    public func subjectOwners() throws -> [String: String] {
        var owners: [String: String] = [:]
        for row in try connection.query("SELECT subject, customer_key FROM customer_subjects") {
            owners[row.string(0) ?? ""] = row.string(1)
        }
        return owners
    }
}
