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
