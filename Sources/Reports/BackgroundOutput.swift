import Foundation

/// Writes a report on a thread of its own while the caller reads the store: on two cores,
/// reading a million lines from SQLite and building their cells overlaps with libxlsxwriter
/// formatting and compressing them, so the report takes about as long as libxlsxwriter alone.
/// The caller's calls are queued in order, in chunks, on a bounded queue (memory stays
/// constant); the first error of the writing thread is thrown to the caller at its next call.
final class BackgroundOutput: ReportOutput {
    private let channel: Channel
    private var sheets: [QueuedSheet] = []

    init(_ target: any ReportOutput) {
        channel = Channel(target: target)
        let channel = self.channel
        Thread { channel.consume() }.start()
    }

    func sheet(_ layout: SheetLayout) throws -> any SheetOutput {
        try channel.send(.sheet(layout))
        let sheet = QueuedSheet(channel: channel, index: sheets.count)
        sheets.append(sheet)
        return sheet
    }

    func finish() throws {
        try channel.send(.finish)
        try channel.close()
    }

    func discard() {
        try? channel.send(.discard)
        try? channel.close()
    }
}

/// A sheet whose calls go to the writing thread; it counts its rows itself, since the totals'
/// formulas need the count before the rows are written.
final class QueuedSheet: SheetOutput {
    private let channel: Channel
    private let index: Int
    private(set) var dataRows = 0

    init(channel: Channel, index: Int) {
        self.channel = channel
        self.index = index
    }

    func row(_ cells: [Cell]) throws {
        try channel.send(.row(index, cells))
        dataRows += 1
    }

    func totals(_ rows: [[Cell]]) throws { try channel.send(.totals(index, rows)) }
    func note(_ text: String) throws { try channel.send(.note(index, text)) }
    func chart(_ chart: RevenueChart) throws { try channel.send(.chart(index, chart)) }
}

/// The queue between the two threads. Everything in it is guarded by `condition`; the target
/// output is touched only by the writing thread.
final class Channel: @unchecked Sendable {
    enum Call {
        case sheet(SheetLayout)
        case row(Int, [Cell])
        case totals(Int, [[Cell]])
        case note(Int, String)
        case chart(Int, RevenueChart)
        case finish
        case discard
    }

    private let condition = NSCondition()
    private let target: any ReportOutput
    /// Calls the caller has not handed over yet: one lock per chunk, not per row.
    private var pending: [Call] = []
    private var chunks: [[Call]] = []
    private var error: (any Error)?
    private var done = false

    static let chunkSize = 512
    static let maxChunks = 16

    init(target: any ReportOutput) {
        self.target = target
        pending.reserveCapacity(Channel.chunkSize)
    }

    func send(_ call: Call) throws {
        pending.append(call)
        let last: Bool
        switch call {
        case .row where pending.count < Channel.chunkSize: return
        case .row, .sheet, .totals, .note, .chart: last = false
        case .finish, .discard: last = true
        }
        condition.lock()
        defer { condition.unlock() }
        while chunks.count >= Channel.maxChunks { condition.wait() }
        // After a failure only the last call still goes: the writing thread then removes the file.
        if let error, !last {
            pending = []
            throw error
        }
        chunks.append(pending)
        pending = []
        pending.reserveCapacity(Channel.chunkSize)
        condition.broadcast()
    }

    /// Waits for the writing thread to finish; throws its error, if any.
    func close() throws {
        condition.lock()
        defer { condition.unlock() }
        while !done { condition.wait() }
        if let error { throw error }
    }

    /// The writing thread: applies the calls in order until `finish` or `discard`; after an
    /// error it drops the rest and, at the end, removes what it wrote.
    func consume() {
        var sheets: [any SheetOutput] = []
        var failed = false
        while true {
            condition.lock()
            while chunks.isEmpty { condition.wait() }
            let chunk = chunks.removeFirst()
            condition.broadcast()
            condition.unlock()
            for call in chunk {
                do {
                    switch call {
                    case .finish where !failed:
                        try target.finish()
                        return end()
                    case .finish, .discard:
                        target.discard()
                        return end()
                    case _ where failed: continue
                    case .sheet(let layout): sheets.append(try target.sheet(layout))
                    case .row(let index, let cells): try sheets[index].row(cells)
                    case .totals(let index, let rows): try sheets[index].totals(rows)
                    case .note(let index, let text): try sheets[index].note(text)
                    case .chart(let index, let chart): try sheets[index].chart(chart)
                    }
                } catch {
                    failed = true
                    condition.lock()
                    self.error = error
                    condition.broadcast()
                    condition.unlock()
                    if case .finish = call { return end() }
                }
            }
        }
    }

    private func end() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }
}
