import Foundation

/// Named points where a crash or race test stops the process, set by `$TOLLBOOTH_FAILPOINT`:
/// `NAME` kills it there (SIGKILL), `NAME:stop` stops it (SIGSTOP) until the test sends SIGCONT,
/// so another command can run at exactly that moment.
///
/// The issue stage's points sit after Stripe answered and before the answer is stored, the worst
/// moment to die: `issue.customer`, `issue.invoice`, `issue.item.N` (after the Nth item),
/// `issue.tax`, `issue.finalize`. The bill run has `run.STAGE` (`run.rate`, ...): the stage is
/// recorded as started and has done nothing yet. `meter ingest` has `ingest.transaction`: its
/// input is read and its write transaction not yet begun.
public struct Failpoints: Sendable {
    let armed: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        armed = environment["TOLLBOOTH_FAILPOINT"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func hit(_ name: String) {
        if armed == name { kill(getpid(), SIGKILL) }
        if armed == name + ":stop" { kill(getpid(), SIGSTOP) }
    }
}
