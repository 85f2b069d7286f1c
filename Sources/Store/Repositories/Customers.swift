import Billing
import Foundation

/// Customers and the subject keys their usage arrives under.
public protocol CustomerRepository: AnyObject {
    /// Adds new customers and updates known ones (by key), all or nothing: a subject key that
    /// belongs to another customer, or a currency change for a customer whose subscriptions are
    /// priced in the old one, is refused.
    func importCustomers(_ customers: [Customer], at now: Instant) throws -> (added: Int, updated: Int)
    func customer(key: String) throws -> Customer?
    func customers() throws -> [Customer]
    /// Every customer's currency (nil when it has none), without reading whole customers.
    func customerCurrencies() throws -> [String: Currency?]
    /// subject -> customer key, for attributing events.
    func subjectOwners() throws -> [String: String]
}
