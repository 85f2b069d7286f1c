import Dispatch
import Foundation
import Store

/// The server's one store connection, used from one serial queue: every read and write of the
/// store, the group commits and the usage counts they move happen in the order they were
/// queued, so the in-memory state never disagrees with what was committed before it.
final class StoreWorker: @unchecked Sendable {
    let store: any Store
    let queue = DispatchQueue(label: "tollbooth.server.store")

    init(store: any Store) {
        self.store = store
    }

    /// Runs `body` on the store's queue and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable (any Store) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self.store) }) }
        }
    }
}
