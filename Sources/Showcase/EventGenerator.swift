import Billing
import Foundation

/// Writes deterministic CloudEvents NDJSON for benchmarks and tests: the same options give the
/// same bytes on every run and machine.
///
/// Every line is a pure function of (seed, event number), so a duplicate is simply event `j`
/// written again: an exact copy of an earlier line, as a gateway's retry would send.
public struct EventGenerator: Sendable {
    public struct Options: Hashable, Sendable {
        /// Lines written, duplicates included.
        public var events: Int
        public var subjects: Int
        public var days: Int
        public var start: Instant
        /// Duplicate lines per million lines (10,000 = 1%).
        public var duplicatesPerMillion: Int
        public var seed: UInt64

        public init(events: Int, subjects: Int = 10_000, days: Int = 30,
                    start: Instant = Instant(year: 2026, month: 1, day: 1),
                    duplicatesPerMillion: Int = 10_000, seed: UInt64 = 42) {
            self.events = events
            self.subjects = subjects
            self.days = days
            self.start = start
            self.duplicatesPerMillion = duplicatesPerMillion
            self.seed = seed
        }
    }

    /// The three meters the generated events feed.
    public static let meters: [Meter] = [
        Meter(slug: "api_requests", name: "API requests", eventType: "api.request", aggregation: .count),
        Meter(slug: "llm_tokens", name: "LLM tokens", eventType: "llm.tokens", aggregation: .sum,
              valueProperty: "$.tokens", groupBy: ["model": "$.model"]),
        Meter(slug: "storage_gb", name: "Storage", eventType: "storage.gb", aggregation: .max, valueProperty: "$.gb"),
    ]

    static let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b"].map { Array($0.utf8) }

    public let options: Options

    public init(_ options: Options) { self.options = options }

    /// Calls `write` with buffers of whole lines, about `chunkSize` bytes each.
    public func generate(chunkSize: Int = 1 << 22, _ write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunkSize + 512)
        var written = 0
        var rng = SplitMix64(seed: options.seed ^ 0x9E37_79B9_7F4A_7C15)
        for _ in 0..<options.events {
            let isDuplicate = written > 0 && Int(rng.next() % 1_000_000) < options.duplicatesPerMillion
            if isDuplicate {
                appendLine(Int(rng.next() % UInt64(written)), to: &buffer)
            } else {
                appendLine(written, to: &buffer)
                written += 1
            }
            if buffer.count >= chunkSize {
                try buffer.withUnsafeBytes(write)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try buffer.withUnsafeBytes(write) }
    }

    /// All lines in memory (for tests and small files).
    public func bytes() -> [UInt8] {
        var all: [UInt8] = []
        generate { all.append(contentsOf: $0) }
        return all
    }

    /// Writes the NDJSON file at `path`, replacing it.
    public func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        try generate { try handle.write(contentsOf: Data($0)) }
    }

    /// Event `n`'s line: its content depends only on the seed and `n`.
    func appendLine(_ n: Int, to out: inout [UInt8]) {
        var rng = SplitMix64(seed: options.seed &+ UInt64(n) &* 0xD1B5_4A32_D192_ED03)
        let r1 = rng.next(), r2 = rng.next()
        let span = Int64(options.days) * 86_400
        // Unique events spread evenly over the days, in time order.
        let time = Instant(seconds: options.start.seconds + Int64(n) * span / Int64(Swift.max(options.events, 1)))
        let subject = Int(r1 % UInt64(Swift.max(options.subjects, 1)))
        let kind = (r1 >> 32) % 10
        out.append(contentsOf: #"{"specversion":"1.0","id":"evt-"#.utf8)
        appendHex(UInt64(n) &* 0x9E37_79B9_7F4A_7C15 ^ options.seed, to: &out)
        out.append(contentsOf: #"","source":"gateway-"#.utf8)
        appendDecimal(Int64(r2 % 4), to: &out)
        switch kind {
        case 0..<5: out.append(contentsOf: #"","type":"api.request","subject":"customer-"#.utf8)
        case 5..<9: out.append(contentsOf: #"","type":"llm.tokens","subject":"customer-"#.utf8)
        default: out.append(contentsOf: #"","type":"storage.gb","subject":"customer-"#.utf8)
        }
        appendDecimal(Int64(subject), width: 5, to: &out)
        out.append(contentsOf: #"","time":""#.utf8)
        appendTime(time, to: &out)
        out.append(contentsOf: #"","data":{"#.utf8)
        switch kind {
        case 0..<5:
            out.append(contentsOf: #""path":"/v1/items","status":200"#.utf8)
        case 5..<9:
            out.append(contentsOf: #""tokens":"#.utf8)
            appendDecimal(Int64(1 + (r2 >> 8) % 8000), to: &out)
            out.append(contentsOf: #","model":""#.utf8)
            out.append(contentsOf: EventGenerator.models[Int((r2 >> 24) % 4)])
            out.append(UInt8(ascii: "\""))
        default:
            // Tenths of a gigabyte: decimal values, as storage meters report them.
            let tenths = Int64((r2 >> 8) % 100_000)
            out.append(contentsOf: #""gb":"#.utf8)
            appendDecimal(tenths / 10, to: &out)
            out.append(UInt8(ascii: "."))
            appendDecimal(tenths % 10, to: &out)
        }
        out.append(contentsOf: "}}\n".utf8)
    }

    private func appendHex(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            let nibble = UInt8((value >> UInt64(shift)) & 0xF)
            out.append(nibble < 10 ? 48 + nibble : 87 + nibble)
        }
    }

    private func appendDecimal(_ value: Int64, width: Int = 1, to out: inout [UInt8]) {
        // Callers pass non-negative values; digits are written in place, right to left.
        var count = 1
        var v = value
        while v >= 10 { v /= 10; count += 1 }
        count = Swift.max(count, width)
        let end = out.count + count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        var index = end - 1
        v = value
        while v > 0 { out[index] = UInt8(48 + v % 10); v /= 10; index -= 1 }
    }

    private func appendTime(_ time: Instant, to out: inout [UInt8]) {
        let c = time.civil
        appendDecimal(Int64(c.year), width: 4, to: &out); out.append(UInt8(ascii: "-"))
        appendDecimal(Int64(c.month), width: 2, to: &out); out.append(UInt8(ascii: "-"))
        appendDecimal(Int64(c.day), width: 2, to: &out); out.append(UInt8(ascii: "T"))
        appendDecimal(Int64(c.hour), width: 2, to: &out); out.append(UInt8(ascii: ":"))
        appendDecimal(Int64(c.minute), width: 2, to: &out); out.append(UInt8(ascii: ":"))
        appendDecimal(Int64(c.second), width: 2, to: &out); out.append(UInt8(ascii: "Z"))
    }
}

/// SplitMix64 (Steele, Lea, Flood): a tiny seeded generator whose output is fixed by its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
