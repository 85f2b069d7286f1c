import Billing
import Foundation
import Logging
import Pipeline
import Store
import Stripe

/// The server's Stripe side: the webhook inbox, the subscribe flow, portal sessions and the
/// set-up API. Its work runs on a store connection and queue of its own, so a slow Stripe call
/// never holds up events and checks; after each write it brings the check's state up to date
/// before answering, so a decision reflects an applied event at once.
final class StripeLink: @unchecked Sendable {
    let live: LiveServer
    let worker: StoreWorker
    let setup: StripeSetup
    let environment: [String: String]
    private let lock = NSLock()
    /// The connection last made, with the key text it was made for.
    private var cached: (key: String, connection: StripeConnection)?

    init(live: LiveServer, secretsFile: SecretsFile, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.live = live
        worker = StoreWorker(store: try live.worker.store.openConnection())
        setup = StripeSetup(settings: live.settings, secretsFile: secretsFile, logger: live.logger)
        self.environment = environment
    }

    /// The connected account's client, or nil when Stripe is not connected. Made again when the
    /// stored key changes (`POST /setup/stripe/rotate-key`, or the command line).
    func connection() throws -> StripeConnection? {
        let given = environment["TOLLBOOTH_STRIPE_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        let keyText = try given ?? setup.secretsFile.read()?.apiKey
        guard let keyText else { return nil }
        if let cached = lock.withLock({ cached }), cached.key == keyText { return cached.connection }
        guard let made = try setup.connection(environment: environment) else { return nil }
        lock.withLock { cached = (keyText, made) }
        return made
    }

    /// A customer's new API key for this installation.
    var makeAPIKey: @Sendable () -> NewAPIKey {
        let production = live.settings.environment == .production
        return { Credentials.newAPIKey(production: production) }
    }

    /// Runs `body` on the Stripe side's queue, then brings the check's state up to date with
    /// what it wrote.
    func run<T: Sendable>(_ body: @escaping @Sendable (any Store) throws -> T) async throws -> T {
        let result = try await worker.run(body)
        _ = try await live.worker.run { _ in try self.live.reloadChanged() }
        return result
    }

    // MARK: The webhook inbox

    /// What the webhook route did with a verified delivery.
    enum Receipt: Sendable {
        case stored(InboxEvent, InboxOutcome?)
        case duplicate(InboxEvent)
    }

    /// Stores a verified event (before the route answers 200). An invoice event is applied at
    /// once; a Checkout event, whose application calls Stripe, right after the answer.
    func receive(_ event: InboxEvent) async throws -> Receipt {
        let now = live.now()
        let makeKey = makeAPIKey
        let receipt: Receipt = try await run { store in
            guard try store.receiveStripeEvent(event) else { return .duplicate(event) }
            guard event.type.hasPrefix("invoice.") else { return .stored(event, nil) }
            let outcome = try StripeInbox(store: store, connection: nil, now: now, makeAPIKey: makeKey).apply(event)
            return .stored(event, outcome)
        }
        if case .stored(_, nil) = receipt {
            Task { await self.applyWaiting() }
        }
        if case .stored(_, let outcome?) = receipt {
            live.logger.info("stripe event applied", metadata: ["stripe.event": "\(event.id)", "stripe.type": "\(event.type)",
                                                              "outcome": "\(outcome.text)"])
        }
        return receipt
    }

    /// Applies what waits in the inbox (Checkout events, and invoice events that came before
    /// their invoice was issued).
    func applyWaiting() async {
        do {
            let connection = try? self.connection()
            let now = live.now()
            let makeKey = makeAPIKey
            let outcomes = try await run { store in
                try StripeInbox(store: store, connection: connection, now: now, makeAPIKey: makeKey).applyWaiting()
            }
            for outcome in outcomes where outcome.isDone {
                live.logger.info("stripe event applied", metadata: ["outcome": "\(outcome.text)"])
            }
        } catch {
            live.logger.error("could not apply the webhook inbox", metadata: ["error": "\(error)"])
        }
    }

    /// Retries what waits in the inbox every `interval` until cancelled.
    func watch(every interval: Duration = .seconds(2)) async {
        await applyWaiting()
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await applyWaiting()
        }
    }
}
