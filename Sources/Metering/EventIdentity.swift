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
    /// A second, independent 64-bit hash (FNV-1a from another start over id, 0xFE, source):
    /// with `hash`, a 128-bit key.
    public let hash2: UInt64

    public init(source: String, id: String) {
        self.source = source
        self.id = id
        let (source, id) = (Array(source.utf8), Array(id.utf8))
        (hash, hash2) = source.withUnsafeBytes { source in
            id.withUnsafeBytes { id in (EventIdentity.hash(source: source, id: id), EventIdentity.hash2(source: source, id: id)) }
        }
    }

    /// From the bytes of `source` and `id` as they appear in the input.
    init(source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) {
        self.source = String(decoding: source, as: UTF8.self)
        self.id = String(decoding: id, as: UTF8.self)
        hash = EventIdentity.hash(source: source, id: id)
        hash2 = EventIdentity.hash2(source: source, id: id)
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

    static func hash2(source: UnsafeRawBufferPointer, id: UnsafeRawBufferPointer) -> UInt64 {
        let h = (FNV1a.hash(id, into: 0x8422_2325_cbf2_9ce4) ^ 0xFE) &* FNV1a.prime
        return FNV1a.hash(source, into: h)
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
