import Foundation

/// Subjects (usage-attribution keys) -> customer slots, looked up by the subject's bytes as the
/// scanner finds them: no `String` built and no seeded hashing per event.
///
/// The dictionary stays the reference. The byte table holds each of its keys' UTF-8 bytes, so a
/// hit finds the key equal to the subject; a miss asks the dictionary, so a subject that equals
/// a key only under Unicode canonical equivalence finds the customer it always did.
struct SubjectTable: Sendable {
    let slots: [String: Int]
    /// Open addressing with linear probing; `slot` -1 is a free entry.
    private let entries: [Entry]
    private let mask: Int
    /// Every key's bytes past its first 16, one after another.
    private let longKeyBytes: [UInt8]

    /// A key's first 16 bytes are kept in the entry (zero-padded): subjects are mostly that
    /// short, and a lookup then reads one entry and no other memory.
    private struct Entry {
        var hash: UInt64
        var head: (UInt64, UInt64)
        var count: Int32
        var slot: Int32
        /// Where the bytes past the first 16 start in `longKeyBytes`.
        var rest: Int32
    }

    init(_ slots: [String: Int]) {
        self.slots = slots
        var size = 16
        while size < slots.count * 2 { size <<= 1 }
        var entries = Array(repeating: Entry(hash: 0, head: (0, 0), count: 0, slot: -1, rest: 0), count: size)
        var longKeyBytes: [UInt8] = []
        for (subject, slot) in slots {
            let bytes = Array(subject.utf8)
            let (hash, head) = bytes.withUnsafeBytes(SubjectTable.hash)
            var index = Int(truncatingIfNeeded: hash) & (size - 1)
            while entries[index].slot >= 0 { index = (index + 1) & (size - 1) }
            entries[index] = Entry(hash: hash, head: head, count: Int32(bytes.count), slot: Int32(slot), rest: Int32(longKeyBytes.count))
            longKeyBytes += bytes.dropFirst(16)
        }
        self.entries = entries
        self.longKeyBytes = longKeyBytes
        mask = size - 1
    }

    /// A key's hash and its first 16 bytes, zero-padded.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> (UInt64, (UInt64, UInt64)) {
        var head: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &head) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(16))) }
        var hash = (head.0 ^ UInt64(bytes.count)) &* 0x9E37_79B9_7F4A_7C15 ^ head.1 &* 0xC2B2_AE3D_27D4_EB4F
        if bytes.count > 16 { hash = FNV1a.hash(UnsafeRawBufferPointer(rebasing: bytes.dropFirst(16)), into: hash) }
        return (hash ^ hash >> 29, head)
    }

    /// The slot of the customer whose key `subject` (UTF-8 bytes) is; nil when none is.
    func slot(of subject: UnsafeRawBufferPointer) -> Int? {
        let (hash, head) = SubjectTable.hash(subject)
        let found: Int? = entries.withUnsafeBufferPointer { entries in
            var index = Int(truncatingIfNeeded: hash) & mask
            while entries[index].slot >= 0 {
                let entry = entries[index]
                if entry.hash == hash, entry.head == head, Int(entry.count) == subject.count,
                   subject.count <= 16 || longKeyBytes.withUnsafeBytes({ rest in
                       memcmp(rest.baseAddress! + Int(entry.rest), subject.baseAddress! + 16, subject.count - 16) == 0
                   }) {
                    return Int(entry.slot)
                }
                index = (index + 1) & mask
            }
            return nil
        }
        return found ?? slots[String(decoding: subject, as: UTF8.self)]
    }

    func slot(of subject: String) -> Int? { slots[subject] }
}
