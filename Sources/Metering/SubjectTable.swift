import Foundation

/// Subjects (usage-attribution keys) -> customer slots, looked up by the subject's bytes as the
/// scanner finds them: no `String` built and no seeded hashing per event.
///
/// The dictionary stays the reference. The byte table holds each of its keys' UTF-8 bytes, so a
/// hit finds the key equal to the subject; a miss asks the dictionary, so a subject that equals
/// a key only under Unicode canonical equivalence finds the customer it always did.
struct SubjectTable: Sendable {
    let slots: [String: Int]
    /// Open addressing with linear probing, by FNV-1a of the bytes; `slot` -1 is a free entry.
    private let entries: [Entry]
    private let mask: Int
    /// Every key's bytes, one after another; an entry points at its key's.
    private let keyBytes: [UInt8]

    private struct Entry {
        var hash: UInt64
        var start: Int32
        var count: Int32
        var slot: Int32
    }

    init(_ slots: [String: Int]) {
        self.slots = slots
        var size = 16
        while size < slots.count * 2 { size <<= 1 }
        var entries = Array(repeating: Entry(hash: 0, start: 0, count: 0, slot: -1), count: size)
        var keyBytes: [UInt8] = []
        for (subject, slot) in slots {
            let bytes = Array(subject.utf8)
            let hash = FNV1a.hash(bytes)
            var index = Int(truncatingIfNeeded: hash) & (size - 1)
            while entries[index].slot >= 0 { index = (index + 1) & (size - 1) }
            entries[index] = Entry(hash: hash, start: Int32(keyBytes.count), count: Int32(bytes.count), slot: Int32(slot))
            keyBytes += bytes
        }
        self.entries = entries
        self.keyBytes = keyBytes
        mask = size - 1
    }

    /// The slot of the customer whose key `subject` (UTF-8 bytes) is; nil when none is.
    func slot(of subject: UnsafeRawBufferPointer) -> Int? {
        let hash = FNV1a.hash(subject)
        let found: Int? = entries.withUnsafeBufferPointer { entries in
            keyBytes.withUnsafeBytes { keyBytes in
                var index = Int(truncatingIfNeeded: hash) & mask
                while entries[index].slot >= 0 {
                    let entry = entries[index]
                    if entry.hash == hash, Int(entry.count) == subject.count,
                       subject.isEmpty || memcmp(keyBytes.baseAddress! + Int(entry.start), subject.baseAddress!, subject.count) == 0 {
                        return Int(entry.slot)
                    }
                    index = (index + 1) & mask
                }
                return nil
            }
        }
        return found ?? slots[String(decoding: subject, as: UTF8.self)]
    }

    func slot(of subject: String) -> Int? { slots[subject] }
}
