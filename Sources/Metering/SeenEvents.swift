internal import CPrefetch

/// The de-duplication keys an ingest has in memory: 128-bit `(source, id)` hashes, each under the
/// UTC day of its event's time. A key is a repeat when it was seen on the event's day or the day
/// either side, so a gateway re-sending an event (with its original time) is always caught,
/// while memory holds only the days an input touches: the store keeps keys per day, and the
/// ingest loads a day (with its neighbours) before it first looks in it.
///
/// Open addressing with linear probing over one flat array, slots found by the first half of
/// the hash alone, so the copies of one key on different days share a probe sequence and one
/// walk answers "seen within a day?".
struct SeenEvents {
    struct Entry {
        var hash: UInt64
        var hash2: UInt64
        /// `SeenEvents.empty` for a free slot.
        var day: Int32
    }

    private var entries: [Entry]
    private var mask: Int
    private(set) var count = 0
    private static let empty = Int32.min

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        entries = Array(repeating: Entry(hash: 0, hash2: 0, day: SeenEvents.empty), count: size)
        mask = size - 1
    }

    /// Asks for the memory where a key's walk starts, ahead of looking the key up: lookups land
    /// anywhere in tens of megabytes, and each would otherwise wait for memory on its own.
    /// Mutating only so a lane calls it on its table in place, not on a copy.
    mutating func prefetch(_ hash: UInt64) {
        entries.withUnsafeBufferPointer { entries in
            tollbooth_prefetch(entries.baseAddress! + (Int(truncatingIfNeeded: hash >> 11) & mask))
        }
    }

    /// Adds a key under a day unless it was seen on that day or an adjacent one: one walk for
    /// both the check and the insert. True when the key is new.
    mutating func insertUnlessRepeat(_ hash: UInt64, _ hash2: UInt64, day: Int32) -> Bool {
        insert(hash, hash2, day: day, within: 1)
    }

    /// Adds a key under a day; false when it was there already.
    @discardableResult
    mutating func insert(_ hash: UInt64, _ hash2: UInt64, day: Int32) -> Bool {
        insert(hash, hash2, day: day, within: 0)
    }

    private mutating func insert(_ hash: UInt64, _ hash2: UInt64, day: Int32, within days: Int64) -> Bool {
        if (count + 1) * 10 > entries.count * 7 { grow() }
        let mask = self.mask
        let added = entries.withUnsafeMutableBufferPointer { entries in
            var index = Int(truncatingIfNeeded: hash >> 11) & mask
            while entries[index].day != SeenEvents.empty {
                let entry = entries[index]
                if entry.hash == hash, entry.hash2 == hash2, abs(Int64(entry.day) - Int64(day)) <= days { return false }
                index = (index + 1) & mask
            }
            entries[index] = Entry(hash: hash, hash2: hash2, day: day)
            return true
        }
        if added { count += 1 }
        return added
    }

    /// Makes room for `keys` keys in all: inserting up to that many never grows the table, which
    /// would move every key again at each doubling.
    mutating func reserve(_ keys: Int) {
        if keys * 10 > entries.count * 7 { rebuild(capacity: keys) }
    }

    private mutating func grow() { rebuild(capacity: entries.count) }

    private mutating func rebuild(capacity: Int) {
        var larger = SeenEvents(capacity: capacity)
        for entry in entries where entry.day != SeenEvents.empty { larger.insert(entry.hash, entry.hash2, day: entry.day) }
        self = larger
    }
}
