import Billing
import Foundation

/// What a long-running reader (the server, an ingest) compares with what it loaded, instead of
/// reading everything again.
public protocol ChangeTracking: AnyObject {
    /// Every change counter (`attribution`, `credentials`, `payments`, `closes`), by name;
    /// `payments` moves only when what `blockingPaymentFacts` reads may have changed.
    func changeCounters() throws -> [String: Int64]
    /// A number that moves when another connection commits.
    func dataVersion() throws -> Int64
    /// Ingest batches newer than `id`: their ids.
    func ingestBatches(after id: Int64) throws -> [Int64]
    /// The invoices whose payment state can block access, per customer.
    func blockingPaymentFacts() throws -> [String: [InvoicePaymentFacts]]
}
