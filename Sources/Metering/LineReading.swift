import Billing
import Dispatch
import Foundation
import Store

/// Whole lines of input: the bytes and each line's range (without its newline).
struct LineChunk: @unchecked Sendable {
    /// Keeps `bytes` alive; shared by the chunks cut from one buffer.
    let storage: InputBuffer
    let bytes: UnsafeRawBufferPointer
    var lines: [Range<Int>]

    var lineCount: Int { lines.count }

    func text(line index: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[lines[index]]), as: UTF8.self)
    }

    /// Splits bytes into chunks of at most `maxLines` lines.
    static func split(_ input: [UInt8], maxLines: Int) -> [LineChunk] {
        let storage = InputBuffer(capacity: input.count)
        input.withUnsafeBytes { storage.memory.copyMemory(from: $0) }
        let all = UnsafeRawBufferPointer(storage.memory)
        var ranges: [Range<Int>] = []
        var start = 0
        for (index, byte) in all.enumerated() where byte == 0x0A {
            ranges.append(start..<index)
            start = index + 1
        }
        if start < all.count { ranges.append(start..<all.count) }
        var chunks: [LineChunk] = []
        var from = 0
        while from < ranges.count {
            let to = min(ranges.count, from + maxLines)
            let offset = ranges[from].lowerBound
            let end = ranges[to - 1].upperBound
            chunks.append(LineChunk(storage: storage, bytes: UnsafeRawBufferPointer(rebasing: all[offset..<end]),
                                    lines: ranges[from..<to].map { ($0.lowerBound - offset)..<($0.upperBound - offset) }))
            from = to
        }
        return chunks
    }
}

/// A block of memory input is read into, freed when the last chunk that uses it is done.
final class InputBuffer: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer

    init(capacity: Int) {
        memory = .allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    deinit { memory.deallocate() }
}

/// Reads a file descriptor into large buffers and hands out chunks of whole lines: each chunk
/// is the whole lines of one buffer (at most `maxLines`); the partial line at its end starts the
/// next buffer. A line longer than a buffer gets a buffer twice the size.
struct LineChunkReader {
    let descriptor: Int32
    let block: Int
    /// The start of a line not yet handed out, to carry into the next buffer.
    var carry: (storage: InputBuffer, range: Range<Int>)?
    var finished = false

    /// Reads into buffers of `block` bytes (16 MiB by default).
    init(descriptor: Int32, block: Int = 16 << 20) {
        self.descriptor = descriptor
        self.block = max(block, 1)
    }

    mutating func next(maxLines: Int) throws -> LineChunk? {
        var size = block
        while true {
            let carried = carry?.range.count ?? 0
            if carried >= size { size *= 2 }
            let storage = InputBuffer(capacity: max(size, carried + 1))
            var filled = 0
            if let carry {
                storage.memory.baseAddress!.copyMemory(from: carry.storage.memory.baseAddress! + carry.range.lowerBound, byteCount: carried)
                filled = carried
            }
            carry = nil
            // Fill the buffer (a pipe hands out little at a time) or reach the end of input.
            while filled < storage.memory.count, !finished {
                let read = Foundation.read(descriptor, storage.memory.baseAddress! + filled, storage.memory.count - filled)
                if read < 0 {
                    if errno == EINTR { continue }
                    throw CocoaError(.fileReadUnknown)
                }
                if read == 0 { finished = true }
                filled += read
            }
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage.memory)[0..<filled])
            var lines: [Range<Int>] = []
            var lineStart = 0
            if let base = bytes.baseAddress {
                while lineStart < filled, lines.count < maxLines,
                      let hit = memchr(base + lineStart, 0x0A, filled - lineStart) {
                    let index = base.distance(to: UnsafeRawPointer(hit))
                    lines.append(lineStart..<index)
                    lineStart = index + 1
                }
            }
            if finished, lineStart < filled, lines.count < maxLines {
                lines.append(lineStart..<filled)
                lineStart = filled
            }
            if lineStart < filled { carry = (storage, lineStart..<filled) }
            if !lines.isEmpty {
                return LineChunk(storage: storage, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<lineStart]), lines: lines)
            }
            if finished, carry == nil { return nil }
            // No whole line in a full buffer: read on into a larger one.
            size = filled * 2
        }
    }
}
