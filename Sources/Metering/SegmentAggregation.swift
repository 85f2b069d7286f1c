import Billing
internal import CPrefetch
import Dispatch
import Foundation
import Store

/// A subscription's segment window in seconds, `[start, end)`, and whether it lies in a period
/// already closed.
struct CachedWindow {
    var start: Int64
    var end: Int64
    var late: Bool
}

/// What one part of a chunk's parsing uses, one per thread parsing at once. Used by one thread
/// at a time.
final class PartState: @unchecked Sendable {
    /// Per subscription, the segment window of its latest event (empty before one): most events
    /// fall in it again.
    var latest: [CachedWindow]
    /// A parser and subject table of the part's own: the threads would otherwise count
    /// references to the same objects on every line, each write taking the memory from the
    /// other core.
    let parser: EventParser
    let subjects: SubjectTable

    init(subscriptions: Int, parser: EventParser, subjects: SubjectTable) {
        latest = Array(repeating: CachedWindow(start: 0, end: 0, late: false), count: subscriptions)
        self.parser = parser
        self.subjects = subjects
    }

    func forgetWindows() {
        for index in latest.indices { latest[index] = CachedWindow(start: 0, end: 0, late: false) }
    }
}

/// Segment pieces of one transaction, keyed by subscription, meter, window and group-by values.
struct SegmentBuilder {
    struct Key: Hashable {
        var subscription: Int32
        var meter: Int32
        var window: Int64
        var group: Int32
    }

    let meters: MeterSet
    var index: [Key: Int] = [:]
    /// Per (subscription, meter, group below `cachedGroups`): the slot of its latest segment,
    /// plus one (0: none). Nearly every event falls in its series' latest window, found here
    /// without hashing.
    var latestSlot: [Int32]
    static let cachedGroups = 8
    var keys: [Key] = []
    var aggregates: [UsageAggregate] = []
    /// Interned group-by texts ("model=gpt-4o"); 0 is no group-by.
    var groups: [String] = [""]
    var groupByText: [String: Int32] = ["": 0]
    /// Per meter with one group-by: its values' texts -> group id, without building the text.
    var groupIDs: [[String: Int32]]

    init(meters: MeterSet, subscriptions: Int) {
        self.meters = meters
        groupIDs = Array(repeating: [:], count: meters.meters.count)
        latestSlot = Array(repeating: 0, count: subscriptions * meters.meters.count * SegmentBuilder.cachedGroups)
    }

    /// What one meter takes from one event, worked out off the aggregating thread.
    struct Input: Sendable {
        var meter: Int32
        /// The group-by value text (`MeterSet.groupValue`); empty without a group-by.
        var group: String
        var reading: MeterReading

        init(values: [DataValue?], meter: Int, meters: MeterSet) {
            self.meter = Int32(meter)
            group = meters.groupValue(of: values, meter: meter)
            reading = meters.reading(of: values, meter: meter)
        }
    }

    mutating func add(_ input: Input, time: Instant, subscription: Int, window: Int64) {
        let meter = Int(input.meter)
        let key = Key(subscription: Int32(subscription), meter: input.meter, window: window, group: group(input.group, meter: meter))
        let cache = key.group < SegmentBuilder.cachedGroups
            ? (subscription * meters.meters.count + meter) * SegmentBuilder.cachedGroups + Int(key.group) : -1
        let slot: Int
        if cache >= 0, latestSlot[cache] > 0, keys[Int(latestSlot[cache]) - 1] == key {
            slot = Int(latestSlot[cache]) - 1
        } else if let found = index[key] {
            slot = found
        } else {
            slot = keys.count
            index[key] = slot
            keys.append(key)
            aggregates.append(UsageAggregate())
        }
        if cache >= 0 { latestSlot[cache] = Int32(slot + 1) }
        aggregates[slot].add(input.reading, at: time)
    }

    /// Asks for the memory of a series' latest segments ahead of adding to them. Mutating only
    /// so a lane calls it on its builder in place: a copy retains and releases every array.
    mutating func prefetch(subscription: Int, meter: Int) {
        latestSlot.withUnsafeBufferPointer { latest in
            guard let base = latest.baseAddress else { return }
            tollbooth_prefetch(base + (subscription * meters.meters.count + meter) * SegmentBuilder.cachedGroups)
        }
    }

    /// The group id of a meter's group-by value text.
    mutating func group(_ value: String, meter: Int) -> Int32 {
        let slots = meters.groupSlots[meter]
        guard !slots.isEmpty else { return 0 }
        if let id = groupIDs[meter][value] { return id }
        let id = intern(slots.count == 1 ? "\(meters.groupNames[meter][0])=\(value)" : value)
        groupIDs[meter][value] = id
        return id
    }

    mutating func intern(_ text: String) -> Int32 {
        if let id = groupByText[text] { return id }
        let id = Int32(groups.count)
        groups.append(text)
        groupByText[text] = id
        return id
    }

    /// Each text's place among them in byte order.
    static func ranks(_ texts: [String]) -> [Int32] {
        var ranks = [Int32](repeating: 0, count: texts.count)
        let order = texts.indices.sorted { texts[$0].utf8.lexicographicallyPrecedes(texts[$1].utf8) }
        for (rank, index) in order.enumerated() { ranks[index] = Int32(rank) }
        return ranks
    }

    /// The pieces of the subscriptions in `range`, merged from several builders (of the same
    /// subscriptions and meters), in key order.
    static func pieces(of builders: [SegmentBuilder], subscriptions range: Range<Int32>, subscriptionIds: [String]) -> [SegmentPiece] {
        guard let first = builders.first else { return [] }
        // Only absorbed into, never added to: no latest-window slots needed.
        var merged = SegmentBuilder(meters: first.meters, subscriptions: 0)
        for builder in builders { merged.absorb(builder, subscriptions: range) }
        return merged.pieces(subscriptionIds: subscriptionIds)
    }

    /// Adds another builder's segments of the subscriptions in `range` to these.
    mutating func absorb(_ other: SegmentBuilder, subscriptions range: Range<Int32>) {
        for (slot, key) in other.keys.enumerated() where range.contains(key.subscription) {
            var translated = key
            if key.group != 0 { translated.group = intern(other.groups[Int(key.group)]) }
            if let found = index[translated] {
                aggregates[found].merge(other.aggregates[slot])
            } else {
                index[translated] = keys.count
                keys.append(translated)
                aggregates.append(other.aggregates[slot])
            }
        }
    }

    /// The pieces in key order (subscriptions are numbered in id order), ready to append.
    func pieces(subscriptionIds: [String]) -> [SegmentPiece] {
        // Meters and group texts by their places in byte order: the sort compares integers.
        let meterRank = SegmentBuilder.ranks(meters.meters.map(\.slug)), groupRank = SegmentBuilder.ranks(groups)
        let order = keys.indices.sorted {
            let a = keys[$0], b = keys[$1]
            return (a.subscription, meterRank[Int(a.meter)], a.window, groupRank[Int(a.group)])
                < (b.subscription, meterRank[Int(b.meter)], b.window, groupRank[Int(b.group)])
        }
        return order.map { slot in
            let key = keys[slot], aggregate = aggregates[slot]
            let latest = aggregate.latest
            return SegmentPiece(subscriptionId: subscriptionIds[Int(key.subscription)], meterSlug: meters.meters[Int(key.meter)].slug,
                                windowStart: Instant(seconds: key.window), groupKey: groups[Int(key.group)], count: aggregate.count,
                                sum: aggregate.sum.description, min: aggregate.min?.description ?? "0", max: aggregate.max?.description ?? "0",
                                latestTime: latest?.time ?? Instant(seconds: key.window), latestValue: latest?.value.description ?? "0",
                                uniqueValues: aggregate.distinct.sorted())
        }
    }
}

extension MeterSet {
    /// What a meter groups an event by: with one group-by, the value's text; with several,
    /// `groupKey`; without, empty.
    func groupValue(of values: [DataValue?], meter index: Int) -> String {
        let slots = groupSlots[index]
        if slots.isEmpty { return "" }
        return slots.count == 1 ? (values[slots[0]]?.keyText ?? "") : groupKey(of: values, meter: index)
    }

    /// The group-by values of an event for a meter as one text: "model=large&region=eu", names
    /// sorted; an absent value is empty.
    func groupKey(of values: [DataValue?], meter index: Int) -> String {
        let slots = groupSlots[index]
        guard !slots.isEmpty else { return "" }
        return zip(groupNames[index], slots).map { name, slot in "\(name)=\(values[slot]?.keyText ?? "")" }.joined(separator: "&")
    }
}
