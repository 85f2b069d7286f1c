#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Another bill run holds the lock: exit status 75 (EX_TEMPFAIL), so cron retries later.
public struct RunLockedError: Error, CustomStringConvertible, Sendable {
    public let holder: String
    public var description: String { "another bill run holds the lock (\(holder)); try again when it has finished" }
}

/// An exclusive lock beside the database (`tollbooth.db.lock`) for the length of a bill run.
/// `flock` is released by the kernel when the process dies, so a killed run never leaves a
/// stale lock; the file's text says who holds it, for the message a second run prints. The lock
/// follows the database, not the spelling of its path: a symlink, `./`, `..` or a relative path
/// all lock beside the real file.
public final class RunLock {
    let descriptor: Int32

    public init(databasePath: String, holder: String) throws {
        let path = RunLock.realPath(databasePath) + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            throw RunLockedError(holder: text?.isEmpty == false ? text! : "unknown holder")
        }
        let note = "\(holder), pid \(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = note.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    /// The database's canonical path (symlinks and dots resolved); the path as given when it
    /// cannot be resolved (it does not exist yet).
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    deinit {
        _ = ftruncate(descriptor, 0)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
