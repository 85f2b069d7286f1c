import Billing
import Dispatch
import Foundation
import Store

/// Which subscription an event counts for, and in which segment window.
extension Ingestor {
    struct AttributionProblem: Error {
        let reason: String
    }

    /// The subscription (an index into `subscriptions`) in effect at the event's time for its
    /// subject's customer (a slot in `customerSpans`), or why there is none.
    func attribute(customer: Int?, unknownSubject: String, time instant: Instant) -> Result<Int, AttributionProblem> {
        guard let slot = customer else {
            return .failure(AttributionProblem(reason: "unknown subject \"\(unknownSubject.prefix(80))\": no customer has it as a usage-attribution key"))
        }
        let time = instant.seconds
        if time > latest {
            return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is more than 5 minutes in the future"))
        }
        if time < earliest {
            return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is older than dedupeRetention \(retention.text): too old to de-duplicate"))
        }
        // Spans of one customer are in start order and rarely more than a few: walk back from
        // the latest, kept with the customer's slot.
        let customer = customerSpans[slot]
        if customer.latest.start <= time && time < customer.latest.end { return .success(Int(customer.latest.subscription)) }
        var index = Int(customer.first + customer.count) - 1
        while index > Int(customer.first) {
            index -= 1
            let span = flatSpans[index]
            if span.start <= time && time < span.end { return .success(Int(span.subscription)) }
        }
        return .failure(AttributionProblem(reason: "time \(instant.rfc3339) is outside every subscription of customer \(customerKeys[slot])"))
    }

    /// The start of the segment window holding `time`, and whether the window lies in a period
    /// already closed: windows are cut at every boundary the subscription bills or counts quota
    /// at, so every period is a union of whole windows. `cache` holds each subscription's latest
    /// window: most events fall in it again.
    func window(_ subscription: Int, _ time: Instant, cache: inout [CachedWindow]) -> (start: Int64, late: Bool) {
        let cached = cache[subscription], seconds = time.seconds
        if cached.start <= seconds && seconds < cached.end { return (cached.start, cached.late) }
        let span = SegmentWindows(subscription: subscriptions[subscription], containing: time).span
        let window = CachedWindow(start: span.start.seconds, end: span.end.seconds, late: span.start.seconds < lastClosed[subscription])
        cache[subscription] = window
        return (window.start, window.late)
    }

    /// A subscription's service span, in seconds.
    struct Span {
        var subscription: Int32
        var start: Int64
        var end: Int64
    }

    struct CustomerSpans {
        var first: Int32
        var count: Int32
        /// The span at `first + count - 1`, or an empty one: most customers have one span, found
        /// here with no other memory read.
        var latest: Span
    }
}
