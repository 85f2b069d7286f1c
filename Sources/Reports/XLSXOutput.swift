import Foundation

/// A report as a workbook. Its sheets write a tape of libxlsxwriter calls (`Tape.swift`), handed
/// in chunks through a bounded queue to a thread of its own that makes the calls
/// (`TapeReplayer`) while this thread reads the store: on two cores, reading a million lines
/// from SQLite and building their cells overlaps with libxlsxwriter formatting them, and the
/// writing thread does no more than libxlsxwriter alone would. Memory stays constant: the queue
/// holds a few chunks. The workbook is made under a temporary name and renamed into place by
/// `finish`; the first error of the writing thread is thrown to this one at its next chunk.
final class XLSXOutput: ReportOutput {
    private let file: PendingFile
    private let channel: ChunkChannel
    private let writer: TapeWriter
    private var sheets: [WorkbookSheet<TapeSheet>] = []

    init(path: String) throws {
        file = try PendingFile(target: path)
        let replayer: TapeReplayer
        do { replayer = try TapeReplayer(path: file.temporary) } catch {
            file.discard()
            throw error
        }
        let channel = ChunkChannel(replayer: replayer)
        self.channel = channel
        writer = TapeWriter { try channel.send($0) }
        Thread { channel.consume() }.start()
    }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        let sheet = try WorkbookSheet(sink: try writer.addSheet(layout.name), layout: layout)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        do {
            for sheet in sheets { try sheet.finish() }
            try writer.flush()
            try channel.finish()
        } catch {
            discard()
            throw error
        }
        try file.commit()
    }

    func discard() {
        channel.abort()
        file.discard()
    }
}

/// The queue between the two threads; everything in it is guarded by `condition`, and the
/// replayer is touched only by the writing thread.
final class ChunkChannel: @unchecked Sendable {
    private enum End { case write, drop }

    private let condition = NSCondition()
    private let replayer: TapeReplayer
    private var chunks: [[UInt8]] = []
    private var end: End?
    private var error: (any Error)?
    private var done = false

    static let maxChunks = 16

    init(replayer: TapeReplayer) {
        self.replayer = replayer
    }

    func send(_ chunk: [UInt8]) throws {
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= ChunkChannel.maxChunks, error == nil { condition.wait() }
        if let error { throw error }
        chunks.append(chunk)
        condition.broadcast()
    }

    /// Waits until every chunk is written and the workbook closed; throws the first error.
    func finish() throws {
        try stop(.write)
    }

    /// Stops the writing thread and drops the workbook.
    func abort() {
        try? stop(.drop)
    }

    private func stop(_ how: End) throws {
        condition.lock()
        defer { condition.unlock() }
        if end == nil { end = how }
        condition.broadcast()
        while !done { condition.wait() }
        if let error { throw error }
    }

    /// The writing thread: replays the chunks in order until told to stop; after an error it
    /// drops the rest, and the workbook with them.
    func consume() {
        while true {
            condition.lock()
            while chunks.isEmpty, end == nil { condition.wait() }
            guard !chunks.isEmpty else {
                let end = self.end
                condition.unlock()
                return close(write: end == .write)
            }
            let chunk = chunks.removeFirst()
            let failed = error != nil
            condition.broadcast()
            condition.unlock()
            guard !failed else { continue }
            do { try chunk.withUnsafeBytes { try replayer.replay($0) } } catch { fail(error) }
        }
    }

    private func close(write: Bool) {
        condition.lock()
        let failed = error != nil
        condition.unlock()
        if write, !failed {
            do { try replayer.close() } catch { fail(error) }
        } else {
            replayer.free()
        }
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    private func fail(_ error: any Error) {
        condition.lock()
        if self.error == nil { self.error = error }
        condition.broadcast()
        condition.unlock()
    }
}
