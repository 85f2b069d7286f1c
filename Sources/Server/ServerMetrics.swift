import Metering
import Prometheus

/// What an operator's dashboard and alerts read at `GET /metrics`, in Prometheus' text format:
/// requests and their latency per route and status (Hummingbird's `MetricsMiddleware`, through
/// swift-metrics into this registry), events by outcome, checks by outcome and reason, the
/// sizes of the groups committed, and Stripe's webhook deliveries by outcome.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let accepted: Counter
    let duplicate: Counter
    let rejected: Counter
    let allowed: Counter
    /// Denials by reason.
    let denied: [String: Counter]
    let commitSizes: ValueHistogram
    let foldedRows: Counter
    let foldSeconds: DurationHistogram

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        accepted = registry.makeCounter(name: "tollbooth_events_total", labels: [("outcome", "accepted")], help: "Events received over HTTP, by outcome")
        duplicate = registry.makeCounter(name: "tollbooth_events_total", labels: [("outcome", "duplicate")], help: "Events received over HTTP, by outcome")
        rejected = registry.makeCounter(name: "tollbooth_events_total", labels: [("outcome", "rejected")], help: "Events received over HTTP, by outcome")
        allowed = ServerMetrics.checks(registry, outcome: "allowed", reason: "")
        denied = Dictionary(uniqueKeysWithValues: Entitlements.Denial.reasons.map { ($0, ServerMetrics.checks(registry, outcome: "denied", reason: $0)) })
        commitSizes = registry.makeValueHistogram(name: "tollbooth_commit_events", buckets: [1, 10, 100, 1_000, 10_000, 100_000],
                                                  help: "Events per group commit")
        foldedRows = registry.makeCounter(name: "tollbooth_usage_log_folded_rows_total", help: "Usage log rows folded into the segments")
        foldSeconds = registry.makeDurationHistogram(name: "tollbooth_usage_log_fold_seconds",
                                                     buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100), .seconds(1)],
                                                     help: "Time of one usage log fold transaction, waiting for the store included")
    }

    func events(_ summary: IngestSummary) {
        accepted.increment(by: Int64(summary.accepted))
        duplicate.increment(by: Int64(summary.duplicates))
        rejected.increment(by: Int64(summary.rejected))
    }

    func checked(_ answer: CheckAnswer) {
        guard let denial = answer.denial else { return allowed.increment() }
        (denied[denial.reason] ?? ServerMetrics.checks(registry, outcome: "denied", reason: denial.reason)).increment()
    }

    static func checks(_ registry: PrometheusCollectorRegistry, outcome: String, reason: String) -> Counter {
        registry.makeCounter(name: "tollbooth_checks_total", labels: [("outcome", outcome), ("reason", reason)], help: "Checks, by outcome and the reason of a denial")
    }

    /// A Stripe webhook delivery: `refused` (its signature), `duplicate`, or stored and then
    /// `applied`, `ignored` or `waiting`.
    func webhook(_ outcome: String) {
        registry.makeCounter(name: "tollbooth_stripe_webhooks_total", labels: [("outcome", outcome)],
                             help: "Stripe webhook deliveries, by outcome").increment()
    }

    func committed(events: Int) { commitSizes.record(Double(events)) }

    func folded(rows: Int, seconds: Duration) {
        foldedRows.increment(by: Int64(rows))
        foldSeconds.record(seconds)
    }

    /// The Prometheus exposition of everything recorded.
    func text() -> String { registry.emitToString() }
}

extension Entitlements.Denial {
    /// Every reason a check is denied for.
    static let reasons = ["invalid key", "expired subscription", "payment overdue", "meter not in subscription", "quota exhausted"]

    /// The reason's name, as DESIGN.md words it (a metric label, a problem's title).
    public var reason: String {
        switch self {
        case .invalidKey, .unknownAPIKey: return "invalid key"
        case .noSubscription: return "expired subscription"
        case .paymentOverdue: return "payment overdue"
        case .featureNotInSubscription: return "meter not in subscription"
        case .quotaExhausted: return "quota exhausted"
        }
    }
}
