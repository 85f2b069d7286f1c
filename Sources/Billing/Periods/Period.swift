import Foundation

/// A half-open span of time `[start, end)` in UTC.
public struct Period: Hashable, Sendable, CustomStringConvertible {
    public let start: Instant
    public let end: Instant

    public init(start: Instant, end: Instant) {
        precondition(start <= end, "period ends before it starts: \(start) .. \(end)")
        self.start = start
        self.end = end
    }

    public var seconds: Int64 { end - start }
    public var isEmpty: Bool { start == end }

    public func contains(_ instant: Instant) -> Bool { start <= instant && instant < end }

    /// The overlap with another span, or nil when they do not overlap.
    public func clamped(to other: Period) -> Period? {
        let s = max(start, other.start), e = min(end, other.end)
        return s < e ? Period(start: s, end: e) : nil
    }

    /// The two parts either side of `instant` (which must lie inside).
    public func split(at instant: Instant) -> (Period, Period) {
        precondition(start <= instant && instant <= end)
        return (Period(start: start, end: instant), Period(start: instant, end: end))
    }

    public var description: String { "[\(start), \(end))" }
}

/// Billing periods stepping from an anchor by a cadence: boundary k is anchor + k x cadence,
/// computed from the anchor each time so month-end anchors never drift.
public struct PeriodSchedule: Hashable, Sendable {
    public let anchor: Instant
    public let cadence: ISODuration

    public init(anchor: Instant, cadence: ISODuration) {
        precondition(!cadence.isZero, "a billing cadence must be longer than zero")
        self.anchor = anchor
        self.cadence = cadence
    }

    public func boundary(_ index: Int) -> Instant { cadence.adding(times: index, to: anchor) }

    /// The index k of the period `[boundary(k), boundary(k+1))` holding `instant`.
    public func index(containing instant: Instant) -> Int {
        var k = Int((instant - anchor) / max(1, cadence.approximateSeconds))
        while boundary(k) > instant { k -= 1 }
        while boundary(k + 1) <= instant { k += 1 }
        return k
    }

    /// The billing period holding `instant`.
    public func period(containing instant: Instant) -> Period {
        let k = index(containing: instant)
        return Period(start: boundary(k), end: boundary(k + 1))
    }

    /// Whether `instant` is one of the schedule's boundaries.
    public func isBoundary(_ instant: Instant) -> Bool { boundary(index(containing: instant)) == instant }

    /// The first boundary strictly after `instant`.
    public func nextBoundary(after instant: Instant) -> Instant { boundary(index(containing: instant) + 1) }

    /// The periods overlapping `span`, each cut to it: the first and last may be partial.
    public func periods(in span: Period) -> [Period] {
        guard !span.isEmpty else { return [] }
        var result: [Period] = []
        var k = index(containing: span.start)
        while boundary(k) < span.end {
            let whole = Period(start: boundary(k), end: boundary(k + 1))
            if let part = whole.clamped(to: span) { result.append(part) }
            k += 1
        }
        return result
    }
}
