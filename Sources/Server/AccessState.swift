import Billing
import Foundation
import Metering
import Pipeline
import Store

/// What the check route decides from, held in memory: credentials by digest, customers and their
/// subscriptions, the invoices whose payment state can block, and usage per usage period. Loaded
/// at start; kept current by the server's own writes and, for other writers (the command line,
/// cron jobs), by the change watcher. Nothing is recomputed from the segments per request.
struct AccessSnapshot: Sendable {
    var catalog = Catalog()
    /// Tokens not revoked, by digest.
    var tokens: [String: StoredToken] = [:]
    /// Keys not revoked, by digest.
    var keys: [String: StoredAPIKey] = [:]
    var subjects: [String: String] = [:]
    var customers: [String: Customer] = [:]
    /// Each customer's subscriptions, in start order.
    var subscriptions: [String: [Subscription]] = [:]
    var payments: [String: [InvoicePaymentFacts]] = [:]
    var counters: [String: Int64] = [:]

    static func load(_ store: any Store, parts: Set<Part> = Set(Part.allCases), into snapshot: AccessSnapshot = AccessSnapshot()) throws -> AccessSnapshot {
        var snapshot = snapshot
        // Read before the parts, and kept for the parts loaded only: a change committed
        // meanwhile is loaded again at the next look, never missed.
        let counters = try store.changeCounters()
        for part in parts { snapshot.counters[part.rawValue] = counters[part.rawValue] }
        if parts.contains(.attribution) {
            snapshot.catalog = try store.catalog()
            snapshot.subjects = try store.subjectOwners()
            snapshot.customers = Dictionary(try store.customers().map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
            var subscriptions: [String: [Subscription]] = [:]
            for record in try store.subscriptions(catalog: snapshot.catalog) {
                subscriptions[record.subscription.customerKey, default: []].append(record.subscription)
            }
            snapshot.subscriptions = subscriptions.mapValues { $0.sorted { ($0.start, $0.id) < ($1.start, $1.id) } }
        }
        if parts.contains(.credentials) {
            snapshot.tokens = Dictionary(try store.tokens().filter { $0.revokedAt == nil }.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
            snapshot.keys = Dictionary(try store.apiKeys().filter { $0.revokedAt == nil }.map { ($0.digest, $0) }, uniquingKeysWith: { first, _ in first })
        }
        if parts.contains(.payments) {
            snapshot.payments = try store.blockingPaymentFacts()
        }
        return snapshot
    }

    /// The parts reloaded when their change counter moves.
    enum Part: String, CaseIterable, Sendable {
        case attribution, credentials, payments
    }
}

/// One usage period of one subscription's meter.
struct UsageKey: Hashable, Sendable {
    var subscriptionId: String
    var meterSlug: String
    var period: Period
}

/// A check as the route received it.
struct CheckRequest: Sendable {
    var apiKey: String?
    var subject: String?
    /// Asked by customer (the entitlement and usage routes) rather than by key or subject.
    var customerKey: String?
    var feature: String
    var units: Decimal = 1
    var consume = false
    var idempotencyKey: String?
}

/// What a check found: who, which subscription and feature, and the usage figures of a metered
/// feature. The answer's fields, allowed or not.
struct CheckFacts: Sendable {
    var customer: String?
    var subject: String?
    var subscription: String?
    var plan: String?
    var feature: String
    var usage: Decimal?
    var limit: Decimal?
    var balance: Decimal?
    var overage: Decimal?
    var isSoftLimit: Bool?
    var period: Period?
    var config: String?
    /// The allowed reply's fixed text, when these facts come from a resolved metered check.
    var allowedTemplate: CheckJSON.AllowedTemplate?
}

struct CheckAnswer: Sendable {
    var facts: CheckFacts
    var denial: Entitlements.Denial?
    var allowed: Bool { denial == nil }
}

/// Who and what a check is about, before usage is counted.
struct ResolvedCheck: Sendable {
    var customer: Customer
    var subject: String
    var subscription: Subscription
    var card: RateCard
    var meter: Meter?
    var entitlement: MeteredEntitlement?
    var usageKey: UsageKey?
    /// The allowed reply's text around its usage figures, made once for a metered check.
    var allowedTemplate: CheckJSON.AllowedTemplate?
}

/// The live state and the decisions made from it. The snapshot and the usage counts are read
/// by request threads under a lock and changed on the store's queue.
final class AccessState: @unchecked Sendable {
    private let lock = NSLock()
    /// The snapshot in a box of its own: a check takes the box (one reference) under the lock
    /// and reads it without, so checks on both event loops seldom wait for each other.
    private final class Box: Sendable {
        let snapshot: AccessSnapshot
        init(_ snapshot: AccessSnapshot) { self.snapshot = snapshot }
    }
    private var box: Box
    /// Checks resolved from `box`, each kept for the span of time over which resolving it again
    /// would give the same: between the nearest boundaries, before and after, of the customer's
    /// subscriptions (starts, ends, phases) and of the usage period. Customers with an invoice
    /// whose payment state can block (whose access changes as grace runs out) are resolved
    /// every time. A new snapshot starts an empty cache, so a change is never answered from it.
    private var resolutions: [ResolutionKey: Resolution] = [:]
    private static let maxResolutions = 100_000

    private struct ResolutionKey: Hashable {
        /// 0: by subject, 1: by API key (its digest), 2: by customer.
        var kind: UInt8
        var who: String
        var feature: String
    }

    private final class Resolution: Sendable {
        let box: Box
        let resolved: ResolvedCheck
        let from: Instant
        let until: Instant
        init(box: Box, resolved: ResolvedCheck, from: Instant, until: Instant) {
            self.box = box
            self.resolved = resolved
            self.from = from
            self.until = until
        }
    }
    /// Usage per usage period, as stored plus what this server committed or reserved since.
    private var usage: [UsageKey: Decimal] = [:]
    /// Units of consuming checks decided and not yet committed: kept when the counts are
    /// reloaded, so a reload never forgets a reservation.
    private var pending: [UsageKey: Decimal] = [:]
    let maxPaymentOverdueDays: Int

    init(snapshot: AccessSnapshot, maxPaymentOverdueDays: Int) {
        box = Box(snapshot)
        self.maxPaymentOverdueDays = maxPaymentOverdueDays
    }

    var current: AccessSnapshot { lock.withLock { box }.snapshot }

    func replace(_ snapshot: AccessSnapshot) {
        let box = Box(snapshot)
        lock.withLock {
            self.box = box
            resolutions.removeAll()
        }
    }

    // MARK: Credentials

    func token(digest: String) -> StoredToken? {
        lock.withLock { box }.snapshot.tokens[digest]
    }

    // MARK: Deciding

    /// The customer, subscription and rate card a check is about, or why it is refused before
    /// any usage is counted: the key, the subscription, payment access, the feature.
    func resolve(_ request: CheckRequest, at now: Instant) -> Result<ResolvedCheck, Entitlements.Denial> {
        let key: ResolutionKey
        if let customer = request.customerKey {
            key = ResolutionKey(kind: 2, who: customer, feature: request.feature)
        } else if let secret = request.apiKey {
            key = ResolutionKey(kind: 1, who: Credentials.digest(secret), feature: request.feature)
        } else {
            key = ResolutionKey(kind: 0, who: request.subject ?? "", feature: request.feature)
        }
        let (box, kept) = lock.withLock { (self.box, resolutions[key]) }
        if let kept, kept.box === box, kept.from <= now, now < kept.until { return .success(kept.resolved) }
        let result = resolve(request, digest: key.kind == 1 ? key.who : nil, in: box, at: now)
        if case .success(let resolved) = result, box.snapshot.payments[resolved.customer.key]?.isEmpty ?? true {
            let (from, until) = Self.span(of: resolved, subscriptions: box.snapshot.subscriptions[resolved.customer.key] ?? [], at: now)
            let resolution = Resolution(box: box, resolved: resolved, from: from, until: until)
            lock.withLock {
                guard self.box === box else { return }
                if resolutions.count >= Self.maxResolutions { resolutions.removeAll() }
                resolutions[key] = resolution
            }
        }
        return result
    }

    /// The span around `now` over which a check resolves as `resolved`: from the latest
    /// boundary at or before `now` to the first after it, among the customer's subscriptions'
    /// starts, ends and phase windows and the usage period's ends.
    private static func span(of resolved: ResolvedCheck, subscriptions: [Subscription], at now: Instant) -> (Instant, Instant) {
        var from = Instant(seconds: .min), until = Instant(seconds: .max)
        func boundary(_ instant: Instant?) {
            guard let instant else { return }
            if instant <= now { from = max(from, instant) } else { until = min(until, instant) }
        }
        for subscription in subscriptions {
            boundary(subscription.start)
            boundary(subscription.end)
            boundary(subscription.serviceEnd)
            for window in subscription.phaseWindows {
                boundary(window.start)
                boundary(window.end)
            }
        }
        boundary(resolved.usageKey?.period.start)
        boundary(resolved.usageKey?.period.end)
        return (from, until)
    }

    private func resolve(_ request: CheckRequest, digest: String?, in box: Box, at now: Instant) -> Result<ResolvedCheck, Entitlements.Denial> {
        let subject: String, customerKey: String
        if let key = request.customerKey {
            (subject, customerKey) = (key, key)
        } else if let digest {
            guard let key = box.snapshot.keys[digest] else { return .failure(.unknownAPIKey) }
            (subject, customerKey) = (key.id, key.customerKey)
        } else {
            let given = request.subject ?? ""
            guard let owner = box.snapshot.subjects[given] else { return .failure(.invalidKey(subject: given)) }
            (subject, customerKey) = (given, owner)
        }
        guard let customer = box.snapshot.customers[customerKey] else { return .failure(.invalidKey(subject: subject)) }
        var found: (subscription: Subscription, window: Subscription.PhaseWindow)?
        for subscription in (box.snapshot.subscriptions[customerKey] ?? []).reversed() {
            if let window = subscription.window(at: now) {
                found = (subscription, window)
                break
            }
        }
        guard let (subscription, window) = found else { return .failure(.noSubscription(customer: customerKey)) }
        let grace = PaymentAccess.graceDays(customerMetadata: customer.metadata, planMetadata: subscription.plan.metadata,
                                            installationDefault: maxPaymentOverdueDays)
        if case .blocked(_, let reason) = PaymentAccess.decide(invoices: box.snapshot.payments[customerKey] ?? [], graceDays: grace, now: now) {
            return .failure(.paymentOverdue(reason: reason))
        }
        guard let card = window.phase.rateCards.first(where: { $0.featureKey == request.feature }) else {
            return .failure(.featureNotInSubscription(feature: request.feature, plan: subscription.plan.key))
        }
        var resolved = ResolvedCheck(customer: customer, subject: subject, subscription: subscription, card: card)
        if let entitlement = card.meteredEntitlement, let meter = box.snapshot.catalog.meter(for: card),
           let period = Quota.usagePeriod(entitlement: entitlement, rateCardCadence: card.billingCadence ?? subscription.plan.billingCadence,
                                          subscriptionAnchor: window.anchor, subscriptionStart: max(subscription.start, window.start), now: now) {
            resolved.meter = meter
            resolved.entitlement = entitlement
            resolved.usageKey = UsageKey(subscriptionId: subscription.id, meterSlug: meter.slug, period: period)
            resolved.allowedTemplate = CheckJSON.AllowedTemplate(Self.fixedFacts(resolved, feature: request.feature))
        }
        return .success(resolved)
    }

    /// The usage counted for a key, if it is in memory.
    func used(_ key: UsageKey) -> Decimal? { lock.withLock { usage[key] } }

    /// Records a count read from the store (on the store's queue), unless one is there already.
    func load(_ key: UsageKey, stored: Decimal) {
        lock.withLock {
            if usage[key] == nil { usage[key] = stored + (pending[key] ?? 0) }
        }
    }

    /// Decides a check; nil when its usage period's count is not in memory (read it, then ask
    /// again). A consuming check that is allowed reserves its units at once, under the same
    /// lock, so concurrent checks never take a hard limit past its quota.
    func decide(_ resolved: ResolvedCheck, request: CheckRequest) -> CheckAnswer? {
        guard let key = resolved.usageKey, let entitlement = resolved.entitlement else { return answer(resolved, request: request, used: 0) }
        guard request.consume else {
            // Only read under the lock; the answer is made outside it.
            return lock.withLock { usage[key] }.map { answer(resolved, request: request, used: $0) }
        }
        let requested = max(0, request.units)
        let used = lock.withLock { () -> Decimal? in
            guard let used = usage[key] else { return nil }
            if Self.isDenied(entitlement, used: used) { return used }
            usage[key] = Self.sum(used, requested)
            pending[key, default: 0] += requested
            return used
        }
        return used.map { answer(resolved, request: request, used: $0) }
    }

    /// The answer to a check whose usage period had `used` before it: denied when a hard limit
    /// is reached; the figures counting the check's units when it consumes and is allowed.
    func answer(_ resolved: ResolvedCheck, request: CheckRequest, used: Decimal) -> CheckAnswer {
        var facts = Self.fixedFacts(resolved, feature: request.feature)
        guard let key = resolved.usageKey, let entitlement = resolved.entitlement else { return CheckAnswer(facts: facts) }
        facts.allowedTemplate = resolved.allowedTemplate
        let limit = entitlement.issueAfterReset
        let denied: Bool
        let requested = max(0, request.units)
        if let usedWhole = used.wholeValue, let limitWhole = limit.wholeValue, let requestedWhole = requested.wholeValue,
           [usedWhole, limitWhole, requestedWhole].allSatisfy(Self.isSmall) {
            // Every COUNT meter's figures: the same arithmetic in whole numbers.
            denied = !entitlement.isSoftLimit && usedWhole >= limitWhole
            let after = !denied && request.consume ? usedWhole + requestedWhole : usedWhole
            facts.usage = Decimal(after)
            facts.balance = Decimal(max(0, limitWhole - after))
            facts.overage = Decimal(max(0, after - limitWhole))
        } else {
            denied = Self.isDenied(entitlement, used: used)
            let after = !denied && request.consume ? used + requested : used
            facts.usage = after
            facts.balance = max(0, limit - after)
            facts.overage = max(0, after - limit)
        }
        if denied {
            return CheckAnswer(facts: facts, denial: .quotaExhausted(feature: request.feature, used: used, limit: limit, periodEnd: key.period.end))
        }
        return CheckAnswer(facts: facts)
    }

    /// Quota.decide's denial (a hard limit reached by the usage before the check), decided in
    /// whole numbers when the figures are whole.
    static func isDenied(_ entitlement: MeteredEntitlement, used: Decimal) -> Bool {
        guard !entitlement.isSoftLimit else { return false }
        if let usedWhole = used.wholeValue, let limitWhole = entitlement.issueAfterReset.wholeValue { return usedWhole >= limitWhole }
        return used >= entitlement.issueAfterReset
    }

    /// `a + b`, in whole numbers when both are whole and small enough that the sum cannot overflow.
    static func sum(_ a: Decimal, _ b: Decimal) -> Decimal {
        if let x = a.wholeValue, let y = b.wholeValue, isSmall(x), isSmall(y) { return Decimal(x + y) }
        return a + b
    }

    /// Whole figures this small are added and subtracted without overflow.
    static func isSmall(_ value: Int64) -> Bool { value > -(1 << 61) && value < 1 << 61 }

    /// A check's facts that do not change with its usage: who, which subscription and plan, the
    /// limit and the usage period.
    static func fixedFacts(_ resolved: ResolvedCheck, feature: String) -> CheckFacts {
        var facts = CheckFacts(customer: resolved.customer.key, subject: resolved.subject, subscription: resolved.subscription.id,
                               plan: resolved.subscription.plan.key, feature: feature)
        if case .static(let config)? = resolved.card.entitlementTemplate { facts.config = config }
        if let key = resolved.usageKey, let entitlement = resolved.entitlement {
            facts.limit = entitlement.issueAfterReset
            facts.isSoftLimit = entitlement.isSoftLimit
            facts.period = key.period
        }
        return facts
    }

    /// Sets a period's count to what the store holds now (on the store's queue, after a commit
    /// of shared counters).
    func set(_ key: UsageKey, stored: Decimal) {
        lock.withLock { usage[key] = stored + (pending[key] ?? 0) }
    }

    /// A reservation's events were committed (stored now) or failed (forgotten).
    func settle(_ key: UsageKey, units: Decimal, stored: Bool) {
        lock.withLock {
            pending[key, default: 0] -= units
            if pending[key] == 0 { pending[key] = nil }
            if !stored, let value = usage[key] { usage[key] = value - units }
        }
    }

    /// Adds what a commit of events stored to the counts in memory: COUNT and SUM meters by
    /// their count and sum; other aggregations are read again from the store when next needed.
    func add(_ pieces: [SegmentPiece]) {
        guard !pieces.isEmpty else { return }
        let meters = Dictionary(current.catalog.meters.map { ($0.slug, $0) }, uniquingKeysWith: { first, _ in first })
        lock.withLock {
            var series: [String: [UsageKey]] = [:]
            for key in usage.keys { series[key.subscriptionId + "\u{0}" + key.meterSlug, default: []].append(key) }
            for piece in pieces {
                for key in series[piece.subscriptionId + "\u{0}" + piece.meterSlug] ?? [] where key.period.contains(piece.windowStart) {
                    switch meters[piece.meterSlug]?.aggregation {
                    case .count?: usage[key, default: 0] += Decimal(piece.count)
                    case .sum?: usage[key, default: 0] += Decimal(string: piece.sum) ?? 0
                    case .uniqueCount?, .max?, .min?, .avg?, .latest?, nil: usage[key] = nil
                    }
                }
            }
        }
    }

    /// Forgets every count (another writer stored usage): each is read again when next needed.
    func forgetUsage() { lock.withLock { usage.removeAll() } }
}
