import Foundation
import Logging

/// Every log record a logger wrote, with its metadata, so a test can read what was logged.
public final class LogRecorder: @unchecked Sendable {
    public struct Record: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: Logger.Metadata
    }

    private let lock = NSLock()
    private var kept: [Record] = []

    public init() {}

    public var records: [Record] { lock.withLock { kept } }

    func append(_ record: Record) { lock.withLock { kept.append(record) } }

    /// A logger at trace level whose records land here.
    public var logger: Logger {
        Logger(label: "tollbooth-tests") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.append(Record(level: event.level, message: "\(event.message)", metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
        }
    }
}
