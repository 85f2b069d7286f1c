#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// SQLite's bill-run lock: an exclusive lock on a file beside the database (`tollbooth.db.lock`).
/// `flock` is released by the kernel when the process dies, so a killed run never leaves a
/// stale lock; the file's text says who holds it, for the message a second run prints. The lock
/// follows the database, not the spelling of its path: a symlink, `./`, `..` or a relative path
/// all lock beside the real file.
final class FileRunLock: RunLock {
    let descriptor: Int32
    /// Held in common: the holder's note stays for the others when this one lets go.
    let shared: Bool

    /// `shared`: held in common by bill-run workers (and refused only by an exclusive holder);
    /// `step`: the lock of a step that runs once at a time, in a file of its own.
    init(databasePath: String, holder: String, shared: Bool = false, step: String? = nil) throws {
        self.shared = shared
        let path = FileRunLock.realPath(databasePath) + (step.map { ".\($0)" } ?? "") + ".lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        if flock(descriptor, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
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
        if !shared { _ = ftruncate(descriptor, 0) }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
