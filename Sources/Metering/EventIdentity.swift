/// `(source, id)`: what makes an event unique. A repeat is a duplicate and is never billed twice.
///
/// `hash` is FNV-1a 64 over the source's UTF-8 bytes, a 0xFF byte (never part of UTF-8, so
/// ("ab", "c") and ("a", "bc") differ) and the id's bytes. It is the same in every run and on
/// every machine, so storage can keep it as an integer key (`storageKey`) and compare the full
/// key only when two hashes are equal. Equality is byte equality, not Unicode canonical
/// equivalence: two ids that only look alike are different events.
public struct EventIdentity: Hashable, Sendable, CustomStringConvertible {
    public let source: String
    public let id: String
    public let hash: UInt64

    public init(source: String, id: String) {
        self.source = source
        self.id = id
        self.hash = EventIdentity.hash(source: Array(source.utf8), id: Array(id.utf8))
    }

    init(source: String, id: String, hash: UInt64) {
        self.source = source
        self.id = id
        self.hash = hash
    }

    /// The hash as SQLite's signed 64-bit integer.
    public var storageKey: Int64 { Int64(bitPattern: hash) }

    public static func hash(source: some Sequence<UInt8>, id: some Sequence<UInt8>) -> UInt64 {
        FNV1a.hash(id, into: FNV1a.hash(CollectionOfOne(0xFF), into: FNV1a.hash(source)))
    }

    static func hash(source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> UInt64 {
        let h = (FNV1a.hash(source) ^ 0xFF) &* FNV1a.prime
        return FNV1a.hash(id, into: h)
    }

    /// True when this identity is exactly (`source`, `id`), byte for byte.
    public func matches(source: some Sequence<UInt8>, id: some Sequence<UInt8>) -> Bool {
        self.source.utf8.elementsEqual(source) && self.id.utf8.elementsEqual(id)
    }

    public static func == (lhs: EventIdentity, rhs: EventIdentity) -> Bool {
        lhs.hash == rhs.hash && lhs.matches(source: rhs.source.utf8, id: rhs.id.utf8)
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    public var description: String { "\(source) / \(id)" }
}

/// An in-memory de-duplication index: 64-bit identity hashes with a caller's payload (a line
/// offset, a row id), open addressing with linear probing. Equal hashes are not trusted: the
/// caller confirms a match by comparing full keys, so a hash collision never drops an event.
public struct DedupeTable: Sendable {
    /// Hash and payload side by side: one cache line per probe. An empty entry has payload -1.
    private struct Entry: Sendable {
        var hash: UInt64
        var payload: Int
    }

    private var entries: [Entry]
    public private(set) var count = 0

    public init(minimumCapacity: Int = 1024) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        entries = Array(repeating: Entry(hash: 0, payload: -1), count: capacity)
    }

    @inline(__always)
    private static func start(_ hash: UInt64, _ mask: Int) -> Int {
        // The identity hash is already uniform; mixing once more guards against weak inputs.
        Int(truncatingIfNeeded: (hash ^ (hash >> 29)) &* 0xbf58_476d_1ce4_e5b9) & mask
    }

    /// The payload of an entry with `hash` that `isSameKey` confirms; otherwise inserts
    /// (`hash`, `payload`) and returns nil. Payloads are offsets or row ids: never negative.
    public mutating func insertIfAbsent(hash: UInt64, payload: Int, isSameKey: (Int) -> Bool) -> Int? {
        precondition(payload >= 0, "DedupeTable payloads are offsets or row ids, never negative")
        let mask = entries.count - 1
        var index = DedupeTable.start(hash, mask)
        while entries[index].payload >= 0 {
            if entries[index].hash == hash, isSameKey(entries[index].payload) { return entries[index].payload }
            index = (index + 1) & mask
        }
        entries[index] = Entry(hash: hash, payload: payload)
        count += 1
        if count * 2 > entries.count { grow() }
        return nil
    }

    /// The payload of an entry with `hash` that `isSameKey` confirms, without inserting.
    public func payload(hash: UInt64, isSameKey: (Int) -> Bool) -> Int? {
        let mask = entries.count - 1
        var index = DedupeTable.start(hash, mask)
        while entries[index].payload >= 0 {
            if entries[index].hash == hash, isSameKey(entries[index].payload) { return entries[index].payload }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Reads the entry where `hash` starts probing and returns its payload: a caller that
    /// touches a batch of hashes first lets their cache misses overlap.
    public func touch(hash: UInt64) -> Int {
        entries[DedupeTable.start(hash, entries.count - 1)].payload
    }

    /// Every entry, in table order.
    public func forEach(_ body: (_ hash: UInt64, _ payload: Int) -> Void) {
        for entry in entries where entry.payload >= 0 { body(entry.hash, entry.payload) }
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(hash: 0, payload: -1), count: old.count * 2)
        let mask = entries.count - 1
        for entry in old where entry.payload >= 0 {
            var index = DedupeTable.start(entry.hash, mask)
            while entries[index].payload >= 0 { index = (index + 1) & mask }
            entries[index] = entry
        }
    }
}
