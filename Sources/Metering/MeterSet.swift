import Billing
import Foundation

/// The catalog's meters compiled for the hot path: event types to match, and every distinct
/// JSONPath into `data` that some meter reads (its value or a group-by), each read once per event.
public struct MeterSet: Sendable {
    /// One reference: the scanner copies the set per line, and one retain is cheaper than nine.
    let storage: Storage

    public var meters: [Meter] { storage.meters }
    public var paths: [String] { storage.paths }
    public var groupNames: [[String]] { storage.groupNames }
    var pathKeys: [[[UInt8]]] { storage.pathKeys }
    var valueSlots: [Int?] { storage.valueSlots }
    var groupSlots: [[Int]] { storage.groupSlots }
    /// An event type: its name, its UTF-8 bytes, and the meters (indices) it feeds.
    typealias TypeEntry = (name: String, bytes: [UInt8], meters: [Int])

    var types: [TypeEntry] { storage.types }

    public struct PathError: Error, Hashable, Sendable, CustomStringConvertible {
        public let meter: String
        public let path: String
        public var description: String {
            "meter \(meter): JSONPath \(path) is not supported; use $.name or $.a.b with letters, digits, _ and -"
        }
    }

    final class Storage: Sendable {
    let meters: [Meter]
    /// Distinct JSONPaths (`$.usage.input_tokens`) in first-use order; an event's `values` follow it.
    let paths: [String]
    let pathKeys: [[[UInt8]]]
    /// Per meter: the slot of its value path (nil for COUNT), and its group-by slots sorted by name.
    let valueSlots: [Int?]
    let groupSlots: [[Int]]
    /// Per meter: its group-by names, sorted, in the order of `UsageSegmentKey.groupValues`.
    let groupNames: [[String]]
    /// Distinct event types, each with the meters that take it.
    let types: [(name: String, bytes: [UInt8], meters: [Int])]
    let typeIndexByHash: [UInt64: [Int]]

    init(meters: [Meter]) throws(MeterSet.PathError) {
        self.meters = meters
        var paths: [String] = []
        var pathKeys: [[[UInt8]]] = []
        func slot(_ path: String, meter: String) throws(MeterSet.PathError) -> Int {
            if let index = paths.firstIndex(of: path) { return index }
            guard let keys = MeterSet.keys(of: path) else { throw MeterSet.PathError(meter: meter, path: path) }
            paths.append(path)
            pathKeys.append(keys)
            return paths.count - 1
        }
        var valueSlots: [Int?] = []
        var groupSlots: [[Int]] = []
        var groupNames: [[String]] = []
        var types: [(name: String, bytes: [UInt8], meters: [Int])] = []
        for (index, meter) in meters.enumerated() {
            switch meter.aggregation {
            case .count:
                valueSlots.append(nil)
            case .sum, .uniqueCount, .max, .min, .avg, .latest:
                // A meter that needs a value but names no path could never accept an event.
                valueSlots.append(try slot(meter.valueProperty ?? "(none)", meter: meter.slug))
            }
            let names = meter.groupBy.keys.sorted()
            var slots: [Int] = []
            for name in names { slots.append(try slot(meter.groupBy[name]!, meter: meter.slug)) }
            groupSlots.append(slots)
            groupNames.append(names)
            if let t = types.firstIndex(where: { $0.name == meter.eventType }) {
                types[t].meters.append(index)
            } else {
                types.append((meter.eventType, Array(meter.eventType.utf8), [index]))
            }
        }
        var byHash: [UInt64: [Int]] = [:]
        for (t, type) in types.enumerated() { byHash[FNV1a.hash(type.bytes), default: []].append(t) }
        self.paths = paths
        self.pathKeys = pathKeys
        self.valueSlots = valueSlots
        self.groupSlots = groupSlots
        self.groupNames = groupNames
        self.types = types
        self.typeIndexByHash = byHash
    }
    }

    public init(meters: [Meter]) throws(PathError) { storage = try Storage(meters: meters) }

    /// The meters (indices into `meters`) that take events of `type`.
    public func meterIndices(forType type: String) -> [Int] {
        types.first { $0.name == type }?.meters ?? []
    }

    func typeIndex(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let types = storage.types
        // A catalog has a handful of event types: comparing bytes beats hashing them.
        if types.count <= 8 {
            for (index, type) in types.enumerated() where type.bytes.count == bytes.count {
                if type.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }) { return index }
            }
            return nil
        }
        guard let candidates = storage.typeIndexByHash[FNV1a.hash(bytes)] else { return nil }
        return candidates.first { types[$0].bytes.elementsEqual(bytes) }
    }

    func typeIndex(_ name: String) -> Int? { types.firstIndex { $0.name == name } }

    /// `$.a.b` -> [a, b]; nil for anything else (filters, wildcards and brackets are not meter paths).
    static func keys(of path: String) -> [[UInt8]]? {
        guard path.hasPrefix("$.") else { return nil }
        let parts = path.dropFirst(2).split(separator: ".", omittingEmptySubsequences: false)
        var keys: [[UInt8]] = []
        for part in parts {
            guard !part.isEmpty, part.utf8.allSatisfy({ b in
                MeterNumber.isDigit(b) || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "z"))
                    || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            }) else { return nil }
            keys.append(Array(part.utf8))
        }
        return keys
    }
}

/// FNV-1a, 64 bit: deterministic across runs and machines, unlike Swift's seeded `Hasher`.
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x100_0000_01b3

    @inline(__always)
    public static func hash(_ bytes: UnsafeRawBufferPointer, into state: UInt64 = offsetBasis) -> UInt64 {
        var h = state
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    public static func hash(_ bytes: some Sequence<UInt8>, into state: UInt64 = offsetBasis) -> UInt64 {
        var h = state
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }
}
