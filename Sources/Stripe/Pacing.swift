import Foundation

/// Monotonic time and sleeping, injected so that tests of retries and pacing run instantly on
/// a virtual clock.
public protocol StripeClock: Sendable {
    /// Seconds on a monotonic scale with an arbitrary origin.
    func now() -> Double
    /// Blocks the calling thread for `seconds`.
    func sleep(_ seconds: Double)
}

/// The machine's monotonic clock and a real sleep.
public struct SystemClock: StripeClock {
    public init() {}

    public func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) / 1_000_000_000
    }

    public func sleep(_ seconds: Double) {
        guard seconds > 0 else { return }
        Thread.sleep(forTimeInterval: seconds)
    }
}

/// Stripe's two limits as one schedule: a global rate for every request of the account and a
/// rate for each endpoint (see `Endpoint`). A call reserves a send time at once: the earliest
/// moment, not before now, that is at least `1 / endpoint rate` after its endpoint's last
/// reserved send and at least `1 / global rate` away from every other reserved send. So no two
/// sends of the whole account are closer than `1 / global rate`, none of one endpoint closer than
/// `1 / endpoint rate`, and a call of a quiet endpoint takes a free global slot ahead of a queue
/// waiting for a busy one: the tighter of the two limits is saturated, neither exceeded.
final class Pacer: @unchecked Sendable {
    let globalRate: Double
    let endpointRate: Double
    private let clock: any StripeClock
    private let lock = NSLock()
    /// Send times reserved and not yet a global interval in the past, in order.
    private var slots: [Double] = []
    /// Each endpoint's earliest next send.
    private var endpointNext: [String: Double] = [:]
    /// The processes sharing the account's limits (bill-run workers): this one paces at its
    /// share of both rates.
    private var sharers = 1

    init(globalRate: Double, endpointRate: Double, clock: any StripeClock) {
        self.globalRate = globalRate
        self.endpointRate = endpointRate
        self.clock = clock
    }

    /// Reserves the send time of one call to `endpoint` and returns the seconds to wait for it;
    /// nil, reserving nothing, when that time is `limit` seconds or more away.
    func reserve(_ endpoint: String, within limit: Double = .infinity) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        let now = clock.now()
        let gap = Double(sharers) / globalRate
        // Fractions of a nanosecond are rounding, not time.
        let tolerance = 1e-9
        slots.removeAll { $0 <= now - gap }
        var time = max(now, endpointNext[endpoint] ?? now)
        var index = 0
        while index < slots.count {
            let slot = slots[index]
            if slot + gap <= time + tolerance { index += 1; continue }
            if slot - gap >= time - tolerance { break }
            time = slot + gap
            index += 1
        }
        let wait = time - now
        guard wait < limit else { return nil }
        slots.insert(time, at: index)
        endpointNext[endpoint] = time + Double(sharers) / endpointRate
        return wait
    }

    /// Paces at `1 / sharers` of the account's limits from now on.
    func share(among sharers: Int) {
        lock.withLock { self.sharers = max(1, sharers) }
    }
}

/// The endpoint a request counts against in Stripe's per-endpoint limit: its method and the
/// path with every object id replaced, so the same operation on different ids is one endpoint
/// (`POST /v1/invoices/{id}/finalize`). Stripe's paths alternate a collection and an id after
/// an optional namespace (`tax`, `checkout`, `billing_portal`); a named action in an id's place
/// (`create_from_calculation`) stays as it is.
enum Endpoint {
    static let namespaces: Set<String> = ["tax", "checkout", "billing_portal", "test_helpers"]
    static let actions: Set<String> = ["create_from_calculation", "create_reversal", "search"]

    static func name(_ method: HTTPMethod, _ path: String) -> String {
        let query = path.firstIndex(of: "?").map { path[..<$0] } ?? path[...]
        var segments = query.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var index = segments.first == "v1" ? 1 : 0
        if index < segments.count, namespaces.contains(segments[index]) { index += 1 }
        var isId = false
        while index < segments.count {
            if isId && !actions.contains(segments[index]) { segments[index] = "{id}" }
            isId.toggle()
            index += 1
        }
        return "\(method.rawValue) /" + segments.joined(separator: "/")
    }
}
