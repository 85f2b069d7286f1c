import Billing
import Dispatch
import Foundation
import Metering
import Store

/// Consuming checks decided in the database, for servers that share one (PostgreSQL): each
/// group of checks takes its units from the usage-period counters (`SharedUsageCounters`)
/// inside the write transaction that stores their usage events, so the checks of every server
/// count against one quota. A check refused by a hard limit stores nothing. Groups form as
/// `GroupCommitter`'s do: the checks that come while one commits share the next.
final class SharedConsumption: @unchecked Sendable {
    struct Check {
        var resolved: ResolvedCheck
        var request: CheckRequest
        var meter: Meter
        var key: UsageKey
        var lines: [UInt8]
        var done: @Sendable (Result<CheckAnswer, any Error>) -> Void
    }

    let worker: StoreWorker
    let counters: any SharedUsageCounters
    let ingestor: Ingestor
    let state: AccessState
    let clock: ServerClock
    let metrics: ServerMetrics
    private var groups: Grouping<Check>!

    init(worker: StoreWorker, counters: any SharedUsageCounters, ingestor: Ingestor, state: AccessState, clock: ServerClock,
         metrics: ServerMetrics) {
        self.worker = worker
        self.counters = counters
        self.ingestor = ingestor
        self.state = state
        self.clock = clock
        self.metrics = metrics
        groups = Grouping(queue: worker.queue, delayMillis: 0) { [unowned self] in decide($0) }
    }

    func submit(_ check: Check) { groups.submit(check) }

    /// On the store's queue: decides and stores a group of checks in one transaction.
    private func decide(_ group: [Check]) {
        ingestor.advance(to: clock.now())
        var answers: [CheckAnswer] = []
        var taken: [UsageKey: (meter: Meter, units: Decimal)] = [:]
        var counted: [UsageKey: Decimal] = [:]
        do {
            let summaries = try ingestor.ingest(input: "http", deciding: {
                answers = []
                taken = [:]
                return try group.map { check in
                    let units = max(0, check.request.units)
                    let entitlement = check.resolved.entitlement
                    let hardLimit = entitlement.flatMap { $0.isSoftLimit ? nil : $0.issueAfterReset }
                    switch try counters.take(units, meter: check.meter, subscriptionId: check.key.subscriptionId,
                                             period: check.key.period, hardLimit: hardLimit) {
                    case .taken(let before):
                        answers.append(state.answer(check.resolved, request: check.request, used: before))
                        taken[check.key, default: (check.meter, 0)].units += units
                        return check.lines
                    case .refused(let used):
                        answers.append(state.answer(check.resolved, request: check.request, used: used))
                        return []
                    }
                }
            }, beforeCommit: { _ in
                // The stored events count the units now (a repeated idempotency key's, none).
                for (key, take) in taken {
                    counted[key] = try counters.giveBack(take.units, meter: take.meter, subscriptionId: key.subscriptionId, period: key.period)
                }
            })
            for (key, stored) in counted { state.set(key, stored: stored) }
            metrics.committed(events: summaries.reduce(0) { $0 + $1.lines })
        } catch {
            let failure = StoreUnavailable(description: "the usage could not be stored: \(error); check again")
            for check in group { check.done(.failure(failure)) }
            return
        }
        for (check, answer) in zip(group, answers) { check.done(.success(answer)) }
    }

    var ownBatches: Set<Int64> { ingestor.ownBatches }
}
