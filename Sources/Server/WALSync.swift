import Dispatch
import Foundation

/// Makes the server's group commits durable off the store's queue. The server's connection
/// commits without syncing (`synchronous = NORMAL` in WAL mode); after each group commit this
/// syncs the write-ahead log (`fdatasync`) on a queue of its own and only then lets the group's
/// requests be answered. The store's queue meanwhile goes on to the next group, so one group's
/// sync overlaps the next one's work. A sync covers every commit written before it, and SQLite
/// syncs the log itself before it copies pages back into the database (a checkpoint), so an
/// answered request survives a power loss as it does with a sync inside each commit.
final class WALSync: @unchecked Sendable {
    /// The log; nil when the store's commits are durable by themselves (PostgreSQL), and a sync
    /// has nothing to do.
    let path: String?
    private let queue = DispatchQueue(label: "tollbooth.server.wal-sync")
    /// Used on `queue` only.
    private var descriptor: Int32 = -1
    private let lock = NSLock()
    /// Who waits for the next sync, and whether one is under way.
    private var waiting: [@Sendable ((any Error)?) -> Void] = []
    private var syncing = false

    init(log: String?) {
        path = log
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Syncs everything committed so far, then calls `done` (nil, or why the sync failed), on
    /// the sync queue. Commits that ask while a sync is under way share the next one.
    func sync(then done: @escaping @Sendable ((any Error)?) -> Void) {
        let start = lock.withLock {
            waiting.append(done)
            defer { syncing = true }
            return !syncing
        }
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            let batch: [@Sendable ((any Error)?) -> Void] = lock.withLock {
                defer { waiting = [] }
                if waiting.isEmpty { syncing = false }
                return waiting
            }
            guard !batch.isEmpty else { return }
            let error = syncNow()
            for done in batch { done(error) }
        }
    }

    private func syncNow() -> (any Error)? {
        guard let path else { return nil }
        // The log is opened once and again only if SQLite made a new file (another inode).
        var current = stat(), open_ = stat()
        guard stat(path, &current) == 0 else { return POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if descriptor < 0 || fstat(descriptor, &open_) != 0 || open_.st_ino != current.st_ino || open_.st_dev != current.st_dev {
            if descriptor >= 0 { close(descriptor) }
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        guard fdatasync(descriptor) == 0 else { return POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return nil
    }
}
