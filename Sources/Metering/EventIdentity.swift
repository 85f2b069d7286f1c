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
    private var hashes: [UInt64]
    private var payloads: [Int]
    private var used: [Bool]
    public private(set) var count = 0

    public init(minimumCapacity: Int = 1024) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        hashes = Array(repeating: 0, count: capacity)
        payloads = Array(repeating: 0, count: capacity)
        used = Array(repeating: false, count: capacity)
    }

    /// The payload of an entry with `hash` that `isSameKey` confirms; otherwise inserts
    /// (`hash`, `payload`) and returns nil.
    public mutating func insertIfAbsent(hash: UInt64, payload: Int, isSameKey: (Int) -> Bool) -> Int? {
        let mask = hashes.count - 1
        // The identity hash is already uniform; mixing once more guards against weak inputs.
        var index = Int(truncatingIfNeeded: (hash ^ (hash >> 29)) &* 0xbf58_476d_1ce4_e5b9) & mask
        while used[index] {
            if hashes[index] == hash, isSameKey(payloads[index]) { return payloads[index] }
            index = (index + 1) & mask
        }
        used[index] = true
        hashes[index] = hash
        payloads[index] = payload
        count += 1
        if count * 2 > hashes.count { grow() }
        return nil
    }

    /// The payload of an entry with `hash` that `isSameKey` confirms, without inserting.
    public func payload(hash: UInt64, isSameKey: (Int) -> Bool) -> Int? {
        let mask = hashes.count - 1
        var index = Int(truncatingIfNeeded: (hash ^ (hash >> 29)) &* 0xbf58_476d_1ce4_e5b9) & mask
        while used[index] {
            if hashes[index] == hash, isSameKey(payloads[index]) { return payloads[index] }
            index = (index + 1) & mask
        }
        return nil
    }

    private mutating func grow() {
        let oldHashes = hashes, oldPayloads = payloads, oldUsed = used
        let capacity = hashes.count * 2
        hashes = Array(repeating: 0, count: capacity)
        payloads = Array(repeating: 0, count: capacity)
        used = Array(repeating: false, count: capacity)
        let mask = capacity - 1
        for i in 0..<oldHashes.count where oldUsed[i] {
            let hash = oldHashes[i]
            var index = Int(truncatingIfNeeded: (hash ^ (hash >> 29)) &* 0xbf58_476d_1ce4_e5b9) & mask
            while used[index] { index = (index + 1) & mask }
            used[index] = true
            hashes[index] = hash
            payloads[index] = oldPayloads[i]
        }
    }
}
