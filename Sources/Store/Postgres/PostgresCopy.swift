import Dispatch
import Foundation
import NIOCore
import PostgresNIO

extension PostgresSession {
    /// Writes rows into `table` with `COPY ... FROM STDIN` (text format), inside the session's
    /// transaction: one statement for any number of rows, without parsing a parameter list.
    /// postgres-nio's COPY is async only; the calling thread waits for it while it runs on a
    /// thread of its own (`CopyExecutor`), never on Swift's cooperative threads, which the caller
    /// may be holding.
    func copy(into table: String, columns: [String], rows: [[SQLValue]]) throws {
        guard !rows.isEmpty else { return }
        var text = ByteBuffer()
        text.reserveCapacity(rows.count * 128)
        for row in rows {
            for (index, value) in row.enumerated() {
                if index > 0 { text.writeInteger(UInt8(ascii: "\t")) }
                PostgresSession.appendCopyText(value, to: &text)
            }
            text.writeInteger(UInt8(ascii: "\n"))
        }
        let connection = self.connection, logger = self.logger, data = text
        let outcome = CopyOutcome()
        Task(executorPreference: CopyExecutor.shared) {
            do {
                try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in try await writer.write(data) }
                outcome.finish(nil)
            } catch {
                outcome.finish(error)
            }
        }
        if let error = outcome.wait() {
            throw DatabaseError(postgres: error, sql: "COPY \(table) FROM STDIN", location: location)
        }
    }

    /// A value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage
    /// return escaped.
    static func appendCopyText(_ value: SQLValue, to buffer: inout ByteBuffer) {
        switch value {
        case .null: buffer.writeString("\\N")
        case .integer(let number): buffer.writeString(String(number))
        case .real(let number): buffer.writeString(String(number))
        case .text(let text):
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.writeString("\\\\")
                case UInt8(ascii: "\t"): buffer.writeString("\\t")
                case UInt8(ascii: "\n"): buffer.writeString("\\n")
                case UInt8(ascii: "\r"): buffer.writeString("\\r")
                default: buffer.writeInteger(byte)
                }
            }
        case .blob(let bytes):
            buffer.writeString("\\\\x")
            for byte in bytes { buffer.writeString(String(format: "%02x", byte)) }
        }
    }
}

/// The result of a COPY, handed from its task to the waiting thread.
private final class CopyOutcome: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: (any Error)?

    func finish(_ error: (any Error)?) {
        self.error = error
        done.signal()
    }

    func wait() -> (any Error)? {
        done.wait()
        return error
    }
}

/// Runs the COPY tasks' jobs on a serial dispatch queue rather than on Swift's cooperative
/// threads, so a synchronous caller that blocks one of those (a test, say) cannot starve the task
/// it waits for.
final class CopyExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = CopyExecutor()
    private let queue = DispatchQueue(label: "tollbooth.postgres.copy")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
