import Foundation

/// Named points where a crash or race test stops the process, set by `$TOLLBOOTH_FAILPOINT`:
/// `NAME` kills it there (SIGKILL); `NAME@K` kills it at the Kth hit in the process only, so a
/// test can let a few invoices through first; `NAME:stop` stops it (SIGSTOP) until the test sends
/// SIGCONT, so another command can run at exactly that moment.
///
/// The issue stage's points sit after Stripe answered and before the answer is stored, the worst
/// moment to die: `issue.customer`, `issue.invoice`, `issue.lines.N` (after the Nth `add_lines`
/// call of an invoice), `issue.payment_method`, `issue.finalize`. The bill run has `run.STAGE`
/// (`run.rate`, ...): the stage is recorded as started and has done nothing yet. `meter ingest`
/// has `ingest.transaction`: its input is read and its write transaction not yet begun.
public final class Failpoints: @unchecked Sendable {
    let armed: String?
    let stops: Bool
    let hitsBeforeKill: Int
    private let lock = NSLock()
    private var hits = 0

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        var value = environment["TOLLBOOTH_FAILPOINT"].flatMap { $0.isEmpty ? nil : $0 }
        stops = value?.hasSuffix(":stop") ?? false
        if stops { value = value.map { String($0.dropLast(5)) } }
        if let text = value, let at = text.lastIndex(of: "@"), let count = Int(text[text.index(after: at)...]), count > 0 {
            armed = String(text[..<at])
            hitsBeforeKill = count
        } else {
            armed = value
            hitsBeforeKill = 1
        }
    }

    public func hit(_ name: String) {
        guard armed == name else { return }
        let count = lock.withLock { hits += 1; return hits }
        guard count >= hitsBeforeKill else { return }
        kill(getpid(), stops ? SIGSTOP : SIGKILL)
    }
}
