import Billing
import Foundation

/// Where a usage segment starts for an event: (subject, time) -> window start.
public typealias UsageWindow = @Sendable (_ subject: String, _ time: Instant) -> Instant

public enum UsageWindows {
    /// Floor to the UTC hour.
    public static let hourly: UsageWindow = { _, time in
        let seconds = time.seconds
        let hour = seconds >= 0 ? seconds / 3600 : -((-seconds + 3599) / 3600)
        return Instant(seconds: hour * 3600)
    }
}

/// What a usage segment is for. `subject` is the usage-attribution key until the store maps
/// subjects to subscriptions; `groupValues` follow `MeterSet.groupNames` of the meter (nil
/// where the event had no value).
public struct UsageSegmentKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var subject: String
    public var meterSlug: String
    public var groupValues: [String?]
    public var windowStart: Instant

    public init(subject: String, meterSlug: String, groupValues: [String?] = [], windowStart: Instant) {
        self.subject = subject
        self.meterSlug = meterSlug
        self.groupValues = groupValues
        self.windowStart = windowStart
    }

    /// Byte order of the texts, so a sorted flush is the same on every machine and locale.
    public static func < (lhs: UsageSegmentKey, rhs: UsageSegmentKey) -> Bool {
        func compare(_ a: String, _ b: String) -> Int {
            if a == b { return 0 }
            return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
        }
        let s = compare(lhs.subject, rhs.subject)
        if s != 0 { return s < 0 }
        let m = compare(lhs.meterSlug, rhs.meterSlug)
        if m != 0 { return m < 0 }
        if lhs.windowStart != rhs.windowStart { return lhs.windowStart < rhs.windowStart }
        for (a, b) in zip(lhs.groupValues, rhs.groupValues) {
            switch (a, b) {
            case (nil, nil): continue
            case (nil, _?): return true
            case (_?, nil): return false
            case (let x?, let y?):
                let c = compare(x, y)
                if c != 0 { return c < 0 }
            }
        }
        return lhs.groupValues.count < rhs.groupValues.count
    }

    public var description: String {
        "\(subject) \(meterSlug) \(groupValues.map { $0 ?? "-" }) \(windowStart)"
    }
}

/// The latest value of a segment. Of two values at the same second the larger wins, so the
/// result does not depend on the order events or partial aggregates arrive in.
public struct LatestValue: Hashable, Sendable {
    public var time: Instant
    public var value: MeterNumber

    public init(time: Instant, value: MeterNumber) {
        self.time = time
        self.value = value
    }

    func supersedes(_ other: LatestValue) -> Bool {
        time != other.time ? time > other.time : other.value < value
    }
}

/// A pre-aggregated usage segment. Merging two partial aggregates gives the aggregate of all
/// their events, in any order, so storage can flush pieces and combine them later.
public struct UsageAggregate: Hashable, Sendable {
    public var count: Int64 = 0
    /// Exact sum of numeric readings.
    public var sum: MeterNumber = .zero
    public var min: MeterNumber?
    public var max: MeterNumber?
    public var latest: LatestValue?
    /// UNIQUE_COUNT's distinct values.
    public var distinct: Set<String> = []

    public init() {}

    public init(count: Int64, sum: MeterNumber = .zero, min: MeterNumber? = nil, max: MeterNumber? = nil,
                latest: LatestValue? = nil, distinct: Set<String> = []) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latest = latest
        self.distinct = distinct
    }

    public mutating func add(_ reading: MeterReading, at time: Instant) {
        count += 1
        switch reading {
        case .count:
            break
        case .number(let value):
            sum = sum + value
            if let current = min { if value < current { min = value } } else { min = value }
            if let current = max { if current < value { max = value } } else { max = value }
            let candidate = LatestValue(time: time, value: value)
            if let current = latest { if candidate.supersedes(current) { latest = candidate } } else { latest = candidate }
        case .distinct(let text):
            distinct.insert(text)
        }
    }

    public mutating func merge(_ other: UsageAggregate) {
        count += other.count
        sum = sum + other.sum
        if let value = other.min, min.map({ value < $0 }) ?? true { min = value }
        if let value = other.max, max.map({ $0 < value }) ?? true { max = value }
        if let value = other.latest, latest.map({ value.supersedes($0) }) ?? true { latest = value }
        distinct.formUnion(other.distinct)
    }

    /// The meter's quantity, as `Billing.Aggregator.aggregate` computes it from the events.
    public func quantity(_ aggregation: Aggregation) -> Decimal {
        switch aggregation {
        case .count: return Decimal(count)
        case .sum: return sum.decimal
        case .uniqueCount: return Decimal(distinct.count)
        case .max: return max?.decimal ?? 0
        case .min: return min?.decimal ?? 0
        case .avg:
            guard count > 0 else { return 0 }
            return (sum.decimal / Decimal(count)).rounded(scale: Aggregator.averageScale)
        case .latest: return latest?.value.decimal ?? 0
        }
    }
}

/// Accepted events pre-aggregated in memory into usage segments.
///
/// Subjects and group-by values are interned to small integers. A series (subject, meter,
/// group-by values) remembers its latest segment, and each segment links to the one before it
/// in window order. Events mostly arrive in time order, so an event's segment is its series'
/// latest or a new one after it, found without a table as large as all segments: with hourly
/// windows most events open a new segment, and a random probe into millions of segments cost
/// more than parsing the line. A late event walks back along the links.
public struct UsageAggregator: Sendable {
    public let meters: MeterSet
    public let window: UsageWindow

    struct PackedKey: Hashable, Sendable {
        var subject: Int32
        var meter: Int32
        var group: Int64
        var window: Int64
    }

    private var subjects: [String] = []
    private var subjectIDs: [String: Int32] = [:]
    /// Interned group-by texts; -1 stands for an absent value.
    private var texts: [String] = []
    private var textIDs: [String: Int32] = [:]
    /// Group tuples of meters with more than one group-by.
    private var tuples: [[Int32]] = []
    private var tupleIDs: [[Int32]: Int64] = [:]
    /// Series key -> series index and its latest window and segment, in one entry.
    private var series = SeriesTable()
    /// Per series: its latest window and segment (also kept in `series` for the hot path).
    private var lastWindows: [(window: Int64, segment: Int32)] = []
    /// Per segment: the segment of the same series with the next earlier window, or -1.
    private var previous: [Int32] = []
    private var keys: [PackedKey] = []
    private var aggregates = SegmentStore()
    /// Per segment: its series.
    private var seriesOf: [Int32] = []

    public init(meters: MeterSet, window: @escaping UsageWindow = UsageWindows.hourly) {
        self.meters = meters
        self.window = window
    }

    public var count: Int { aggregates.count }

    /// Every segment with its aggregate.
    public var segments: [UsageSegmentKey: UsageAggregate] {
        var result: [UsageSegmentKey: UsageAggregate] = [:]
        result.reserveCapacity(keys.count)
        for (index, key) in keys.enumerated() { result[segmentKey(key)] = aggregates[index] }
        return result
    }

    /// Adds an event to the segment of each of its meters.
    public mutating func add(_ event: UsageEvent) {
        let start = window(event.subject, event.time)
        let subject = intern(subject: event.subject)
        for m in event.meterIndices {
            let key = PackedKey(subject: subject, meter: Int32(m), group: group(of: event, meter: m), window: start.seconds)
            let reading = meters.reading(of: event, meter: m)
            switch locate(key) {
            case .found(let slot):
                aggregates.add(reading, at: event.time, to: slot)
            case .absent(let series, let after):
                insertEmpty(key, series: series, after: after)
                aggregates.add(reading, at: event.time, to: aggregates.count - 1)
            }
        }
    }

    /// Merges another aggregator. A series only the other has is copied whole, links and all;
    /// only series both have are merged segment by segment. Threads that split events by
    /// subject therefore merge in one pass.
    /// Reads the series entries of `events` without changing anything, so a batch's cache
    /// misses overlap before `add` needs them; the sum only keeps the loads from being dropped.
    func touch(_ events: some Sequence<UsageEvent>) -> Int64 {
        var sink: Int64 = 0
        for event in events {
            guard let subject = subjectIDs[event.subject] else { continue }
            for m in event.meterIndices where meters.groupSlots[m].isEmpty {
                sink &+= series.touch(PackedKey(subject: subject, meter: Int32(m), group: 0, window: 0))
            }
        }
        return sink
    }

    public mutating func merge(_ other: UsageAggregator) {
        // Translate the other's interned ids once, not per segment.
        let subjectMap = other.subjects.map { intern(subject: $0) }
        let textMap = other.texts.map { intern(text: $0) }
        func text(_ id: Int32) -> Int32 { id < 0 ? -1 : textMap[Int(id)] }
        let tupleMap = other.tuples.map { group(tuple: $0.map(text)) }
        let meterMap = other.meters.meters.map { m in Int32(meters.meters.firstIndex(of: m) ?? -1) }
        // Per series of the other: the series here, and whether this merge created it.
        var seriesMap = [Int32](repeating: -1, count: other.lastWindows.count)
        var fresh = [Bool](repeating: false, count: other.lastWindows.count)
        var segmentMap = [Int32](repeating: -1, count: other.keys.count)
        for (index, key) in other.keys.enumerated() {
            let mine: PackedKey
            if meterMap[Int(key.meter)] >= 0 {
                let group: Int64
                switch other.meters.groupSlots[Int(key.meter)].count {
                case 0: group = 0
                case 1: group = Int64(text(Int32(key.group)))
                default: group = tupleMap[Int(key.group)]
                }
                mine = PackedKey(subject: subjectMap[Int(key.subject)], meter: meterMap[Int(key.meter)], group: group, window: key.window)
            } else {
                mine = pack(other.segmentKey(key))
            }
            let otherSeries = Int(other.seriesOf[index])
            if fresh[otherSeries] {
                // Appended as is; the links are mapped once every segment has its new index.
                let segment = Int32(aggregates.count)
                keys.append(mine)
                aggregates.append(copyOf: index, in: other.aggregates)
                seriesOf.append(seriesMap[otherSeries])
                previous.append(-1)
                segmentMap[index] = segment
                continue
            }
            switch locate(mine) {
            case .found(let slot):
                aggregates.merge(other.aggregates[index], into: slot)
                if seriesMap[otherSeries] < 0 { seriesMap[otherSeries] = seriesOf[slot] }
            case .absent(let series, let after):
                insert(mine, other.aggregates[index], series: series, after: after)
                if let series {
                    if seriesMap[otherSeries] < 0 { seriesMap[otherSeries] = Int32(series) }
                } else {
                    seriesMap[otherSeries] = Int32(lastWindows.count - 1)
                    fresh[otherSeries] = true
                    segmentMap[index] = Int32(aggregates.count - 1)
                }
            }
        }
        for (index, segment) in segmentMap.enumerated() where segment >= 0 {
            let link = other.previous[index]
            previous[Int(segment)] = link < 0 ? -1 : segmentMap[Int(link)]
        }
        for (otherSeries, isFresh) in fresh.enumerated() where isFresh {
            let latest = other.lastWindows[otherSeries]
            let segment = segmentMap[Int(latest.segment)]
            setLatest(keys[Int(segment)], series: Int(seriesMap[otherSeries]), segment: segment)
        }
    }

    /// Segments in key order: the order a storage flush writes them in.
    public func sortedSegments() -> [(key: UsageSegmentKey, aggregate: UsageAggregate)] {
        keys.indices.map { (key: segmentKey(keys[$0]), aggregate: aggregates[$0]) }.sorted { $0.key < $1.key }
    }

    /// The meter's quantity for one segment, nil when the segment has no events or names no meter.
    public func quantity(_ key: UsageSegmentKey) -> Decimal? {
        guard let meter = meters.meters.firstIndex(where: { $0.slug == key.meterSlug }),
              meters.groupNames[meter].count == key.groupValues.count,
              let packed = existingKey(key, meter: meter), case .found(let slot) = find(packed) else { return nil }
        return aggregates[slot].quantity(meters.meters[meter].aggregation)
    }

    enum Location {
        case found(Int)
        /// Not there: the series (nil when new) and the segment the new one follows in window
        /// order (`latest` when it is the series' newest, -1 when its oldest).
        case absent(series: Int?, after: Int32)
    }

    static let latest: Int32 = .max

    private func find(_ key: PackedKey) -> Location {
        guard let entry = series.find(key) else { return .absent(series: nil, after: -1) }
        let s = Int(entry.series)
        // The common case first: the same window as the series' last event, or a later one.
        let last = (window: entry.lastWindow, segment: entry.lastSegment)
        if last.window == key.window { return .found(Int(last.segment)) }
        if last.window < key.window { return .absent(series: s, after: UsageAggregator.latest) }
        // A late event: walk back to the first segment not after its window.
        var later = last.segment
        var current = previous[Int(later)]
        while current >= 0 {
            let window = keys[Int(current)].window
            if window == key.window { return .found(Int(current)) }
            if window < key.window { break }
            later = current
            current = previous[Int(current)]
        }
        return .absent(series: s, after: current)
    }

    private mutating func locate(_ key: PackedKey) -> Location { find(key) }

    private mutating func insert(_ key: PackedKey, _ aggregate: UsageAggregate, series s: Int?, after: Int32) {
        insertEmpty(key, series: s, after: after)
        aggregates.merge(aggregate, into: aggregates.count - 1)
    }

    private mutating func insertEmpty(_ key: PackedKey, series s: Int?, after: Int32) {
        let segment = Int32(aggregates.count)
        keys.append(key)
        aggregates.appendEmpty()
        guard let s else {
            seriesOf.append(Int32(lastWindows.count))
            series.insert(key, series: Int32(lastWindows.count), segment: segment)
            lastWindows.append((key.window, segment))
            previous.append(-1)
            return
        }
        seriesOf.append(Int32(s))
        if after == UsageAggregator.latest {
            previous.append(lastWindows[s].segment)
            setLatest(key, series: s, segment: segment)
            return
        }
        // Between `after` (or nothing) and the segment that pointed at it.
        previous.append(after)
        var later = lastWindows[s].segment
        while previous[Int(later)] != after { later = previous[Int(later)] }
        previous[Int(later)] = segment
    }

    private mutating func setLatest(_ key: PackedKey, series s: Int, segment: Int32) {
        lastWindows[s] = (key.window, segment)
        series.setLatest(key, window: key.window, segment: segment)
    }

    private mutating func intern(subject: String) -> Int32 {
        if let id = subjectIDs[subject] { return id }
        let id = Int32(subjects.count)
        subjects.append(subject)
        subjectIDs[subject] = id
        return id
    }

    private mutating func intern(text: String?) -> Int32 {
        guard let text else { return -1 }
        if let id = textIDs[text] { return id }
        let id = Int32(texts.count)
        texts.append(text)
        textIDs[text] = id
        return id
    }

    private mutating func group(of event: UsageEvent, meter m: Int) -> Int64 {
        let slots = meters.groupSlots[m]
        switch slots.count {
        case 0: return 0
        case 1: return Int64(intern(text: event.values[slots[0]]?.keyText))
        default: return group(tuple: slots.map { intern(text: event.values[$0]?.keyText) })
        }
    }

    private mutating func group(tuple: [Int32]) -> Int64 {
        if let id = tupleIDs[tuple] { return id }
        let id = Int64(tuples.count)
        tuples.append(tuple)
        tupleIDs[tuple] = id
        return id
    }

    private mutating func pack(_ key: UsageSegmentKey) -> PackedKey {
        let meter = meters.meters.firstIndex { $0.slug == key.meterSlug } ?? 0
        return pack(key, meter: meter)
    }

    /// Packs a key of this aggregator's meters, interning what is new.
    private mutating func pack(_ key: UsageSegmentKey, meter: Int) -> PackedKey {
        let ids = key.groupValues.map { intern(text: $0) }
        let group: Int64
        switch ids.count {
        case 0: group = 0
        case 1: group = Int64(ids[0])
        default: group = self.group(tuple: ids)
        }
        return PackedKey(subject: intern(subject: key.subject), meter: Int32(meter), group: group,
                         window: key.windowStart.seconds)
    }

    /// The packed key if every part of `key` is already interned (read-only lookups).
    private func existingKey(_ key: UsageSegmentKey, meter: Int) -> PackedKey? {
        guard let subject = subjectIDs[key.subject] else { return nil }
        var ids: [Int32] = []
        for value in key.groupValues {
            if let value { guard let id = textIDs[value] else { return nil }; ids.append(id) } else { ids.append(-1) }
        }
        let group: Int64
        switch ids.count {
        case 0: group = 0
        case 1: group = Int64(ids[0])
        default: guard let id = tupleIDs[ids] else { return nil }; group = id
        }
        return PackedKey(subject: subject, meter: Int32(meter), group: group, window: key.windowStart.seconds)
    }

    private func segmentKey(_ key: PackedKey) -> UsageSegmentKey {
        let m = Int(key.meter)
        let ids: [Int32]
        switch meters.groupSlots[m].count {
        case 0: ids = []
        case 1: ids = [Int32(key.group)]
        default: ids = tuples[Int(key.group)]
        }
        return UsageSegmentKey(subject: subjects[Int(key.subject)], meterSlug: meters.meters[m].slug,
                               groupValues: ids.map { $0 < 0 ? nil : texts[Int($0)] },
                               windowStart: Instant(seconds: key.window))
    }
}

/// Open addressing from series (subject, meter, group-by values) to the series' index and
/// latest segment, all in one 32-byte entry: the lookup every event makes touches one cache
/// line. Swift's `Dictionary` seeds a `Hasher` per lookup and keeps keys and values apart.
struct SeriesTable: Sendable {
    struct Entry: Sendable {
        var subject: Int32
        /// -1 marks an empty entry.
        var meter: Int32
        var group: Int64
        var lastWindow: Int64
        var lastSegment: Int32
        var series: Int32
    }

    private var entries = Array(repeating: Entry(subject: 0, meter: -1, group: 0, lastWindow: 0, lastSegment: 0, series: 0),
                                count: 1024)
    private var count = 0

    @inline(__always)
    private static func start(_ key: UsageAggregator.PackedKey, _ mask: Int) -> Int {
        // Every field moves every bit (SplitMix64's finaliser), so the low bits the mask keeps
        // depend on the whole key.
        var h = UInt64(UInt32(bitPattern: key.subject)) &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(UInt32(bitPattern: key.meter)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(bitPattern: key.group) &* 0x1656_67B1_9E37_79F9
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: h ^ (h >> 31)) & mask
    }

    @inline(__always)
    private func index(of key: UsageAggregator.PackedKey) -> Int {
        let mask = entries.count - 1
        var index = SeriesTable.start(key, mask)
        while true {
            let entry = entries[index]
            if entry.meter < 0 || (entry.subject == key.subject && entry.meter == key.meter && entry.group == key.group) {
                return index
            }
            index = (index + 1) & mask
        }
    }

    /// The entry of `key`'s series (its window is ignored).
    func find(_ key: UsageAggregator.PackedKey) -> Entry? {
        let entry = entries[index(of: key)]
        return entry.meter < 0 ? nil : entry
    }

    mutating func insert(_ key: UsageAggregator.PackedKey, series: Int32, segment: Int32) {
        if (count + 1) * 2 > entries.count { grow() }
        entries[index(of: key)] = Entry(subject: key.subject, meter: key.meter, group: key.group,
                                        lastWindow: key.window, lastSegment: segment, series: series)
        count += 1
    }

    /// The latest window at `key`'s first probe position (for overlapping cache misses).
    func touch(_ key: UsageAggregator.PackedKey) -> Int64 {
        entries[SeriesTable.start(key, entries.count - 1)].lastWindow
    }

    mutating func setLatest(_ key: UsageAggregator.PackedKey, window: Int64, segment: Int32) {
        let i = index(of: key)
        entries[i].lastWindow = window
        entries[i].lastSegment = segment
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(subject: 0, meter: -1, group: 0, lastWindow: 0, lastSegment: 0, series: 0),
                        count: old.count * 2)
        for entry in old where entry.meter >= 0 {
            let key = UsageAggregator.PackedKey(subject: entry.subject, meter: entry.meter, group: entry.group, window: 0)
            entries[index(of: key)] = entry
        }
    }
}

/// Segment aggregates in 56 bytes each while every value is an `Int64`, which is nearly always:
/// with hourly windows a run holds about one segment per event, and a full `UsageAggregate`
/// (five `Decimal`-sized numbers and a set) tripled the memory the run touches. A segment that
/// meets a decimal, an overflow or UNIQUE_COUNT text moves to a full `UsageAggregate` on the side.
struct SegmentStore: Sendable {
    struct Cell: Sendable {
        var count: Int64 = 0
        var sum: Int64 = 0
        var min: Int64 = 0
        var max: Int64 = 0
        /// `Int64.min` until the first number.
        var latestTime: Int64 = .min
        var latestValue: Int64 = 0
        /// Index into `wide`, or -1 while the cell holds everything itself.
        var wide: Int32 = -1
    }

    private var cells: [Cell] = []
    private var wide: [UsageAggregate] = []

    var count: Int { cells.count }

    mutating func appendEmpty() { cells.append(Cell()) }

    mutating func append(copyOf index: Int, in other: SegmentStore) {
        var cell = other.cells[index]
        if cell.wide >= 0 {
            wide.append(other.wide[Int(cell.wide)])
            cell.wide = Int32(wide.count - 1)
        }
        cells.append(cell)
    }

    subscript(index: Int) -> UsageAggregate {
        let cell = cells[index]
        if cell.wide >= 0 { return wide[Int(cell.wide)] }
        guard cell.latestTime != .min else { return UsageAggregate(count: cell.count) }
        return UsageAggregate(count: cell.count, sum: .integer(cell.sum), min: .integer(cell.min), max: .integer(cell.max),
                              latest: LatestValue(time: Instant(seconds: cell.latestTime), value: .integer(cell.latestValue)))
    }

    mutating func add(_ reading: MeterReading, at time: Instant, to index: Int) {
        let w = cells[index].wide
        if w >= 0 { wide[Int(w)].add(reading, at: time); return }
        switch reading {
        case .count:
            cells[index].count += 1
        case .number(.integer(let value)):
            var cell = cells[index]
            let (sum, overflow) = cell.sum.addingReportingOverflow(value)
            if overflow { break }
            cell.count += 1
            cell.sum = sum
            if cell.latestTime == .min {
                cell.min = value
                cell.max = value
                cell.latestTime = time.seconds
                cell.latestValue = value
            } else {
                if value < cell.min { cell.min = value }
                if value > cell.max { cell.max = value }
                if time.seconds > cell.latestTime || (time.seconds == cell.latestTime && value > cell.latestValue) {
                    cell.latestTime = time.seconds
                    cell.latestValue = value
                }
            }
            cells[index] = cell
            return
        case .number(.decimal), .distinct:
            break
        }
        // Everything the cell cannot hold continues on a full aggregate.
        if case .count = reading { return }
        widen(index)
        wide[Int(cells[index].wide)].add(reading, at: time)
    }

    mutating func merge(_ aggregate: UsageAggregate, into index: Int) {
        if cells[index].wide < 0 { widen(index) }
        wide[Int(cells[index].wide)].merge(aggregate)
    }

    private mutating func widen(_ index: Int) {
        wide.append(self[index])
        cells[index].wide = Int32(wide.count - 1)
    }
}
