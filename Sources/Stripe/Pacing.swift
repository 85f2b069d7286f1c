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

/// A token bucket that hands out reservations: every call takes a token at once, possibly
/// going into debt, and is told how long to wait until its token exists. Concurrent callers
/// therefore queue in the order they asked and start exactly `1 / rate` apart once the burst is
/// spent, which saturates the rate without exceeding it.
final class TokenBucket: @unchecked Sendable {
    let rate: Double
    let capacity: Double
    private let clock: any StripeClock
    private let lock = NSLock()
    private var tokens: Double
    private var updated: Double

    /// `rate` tokens a second, at most `burst` held at once (a full bucket to start with).
    init(rate: Double, burst: Int, clock: any StripeClock) {
        self.rate = rate
        self.capacity = Double(max(1, burst))
        self.clock = clock
        self.tokens = capacity
        self.updated = clock.now()
    }

    /// Takes one token and returns the seconds to wait before using it (0 when one was there).
    func reserve() -> Double {
        lock.lock()
        defer { lock.unlock() }
        let now = max(clock.now(), updated)
        tokens = min(capacity, tokens + (now - updated) * rate)
        updated = now
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}
