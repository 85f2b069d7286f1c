import Billing
import Foundation
import Pipeline
import Store

/// Sets up the issue benchmark: a database whose bill run makes `invoices` invoices of `lines`
/// lines each (one customer each, on a plan of `lines` monthly fees billed in advance), so
/// issuing one takes 3 + `lines` Stripe writes: customer, invoice, an item per line, finalize.
/// The timed work is the real `run --stage issue`; see Benchmarks/issue.sh.
public enum IssueBenchmark {
    static func catalog(lines: Int) -> String {
        let cards = (1...lines).map { n in
            #"{"type": "flat_fee", "key": "fee_\#(n)", "name": "Service fee \#(n)", "billingCadence": "P1M", "price": {"type": "flat", "amount": "\#(n + 4).00"}}"#
        }
        return """
        {"meters": [], "features": [], "plans": [{"key": "fees", "version": 1, "name": "Fees", "currency": "USD", "billingCadence": "P1M",
          "phases": [{"key": "default", "name": "Fees", "duration": null, "rateCards": [\(cards.joined(separator: ", "))]}]}]}
        """
    }

    /// Writes the database at `path`: a SQLite file (replacing it) or an empty PostgreSQL
    /// database (`postgres://...`); returns the as-of of the bill run that makes the invoices.
    public static func prepare(path: String, invoices: Int, lines: Int) throws -> Instant {
        let start = Instant(year: 2026, month: 1, day: 1)
        let store: any Store
        if PostgresLocation.isURL(path) {
            store = try PostgresStore(url: path)
        } else {
            for suffix in ["", "-wal", "-shm", ".secrets.json"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            store = try SQLiteStore(path: path)
        }
        _ = try store.importCatalog(try CatalogReader.read(Data(catalog(lines: lines).utf8)), at: start)
        let customers = (0..<invoices).map { n in
            Customer(key: "c\(n)", name: "Customer \(n)", email: "billing+\(n)@customer.example", currency: .usd,
                     billingAddress: .init(country: "US", postalCode: "94105", state: "CA"))
        }
        _ = try store.importCustomers(customers, at: start)
        try store.transaction {
            for customer in customers {
                _ = try store.createSubscription(customerKey: customer.key, planKey: "fees", version: nil, anchor: nil, start: start, now: start)
            }
        }
        return start + 7200
    }
}
