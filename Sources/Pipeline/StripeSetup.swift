import Foundation
import Logging
import Stripe

/// What Tollbooth keeps of its Stripe connection. It lives in a file of its own beside the
/// database, readable by its owner only (0600), never in the settings file or the database.
public struct StripeSecrets: Codable, Hashable, Sendable {
    public var apiKey: String
    public var account: String
    /// `test` or `live`, the key's mode.
    public var mode: String
    public var webhookEndpointId: String?
    public var webhookSecret: String?
    public var webhookUrl: String?
    /// Signing secrets of endpoints replaced by a newer one: still accepted for events signed
    /// before the replacement, for `RetiredWebhookSecret.acceptedFor` (Stripe's 24 hours).
    public var retiredWebhookSecrets: [RetiredWebhookSecret]?

    public init(apiKey: String, account: String, mode: String, webhookEndpointId: String? = nil,
                webhookSecret: String? = nil, webhookUrl: String? = nil, retiredWebhookSecrets: [RetiredWebhookSecret]? = nil) {
        self.apiKey = apiKey
        self.account = account
        self.mode = mode
        self.webhookEndpointId = webhookEndpointId
        self.webhookSecret = webhookSecret
        self.webhookUrl = webhookUrl
        self.retiredWebhookSecrets = retiredWebhookSecrets
    }

    /// The signing secrets a delivery signed at `signedAt` (its `t=`) may use at `now`: the
    /// current one, and each retired one for events signed before it was retired, within a day
    /// of its retirement.
    public func webhookSecrets(signedAt: Int64?, now: Int64) -> [String] {
        let retired = (retiredWebhookSecrets ?? []).filter { secret in
            now - secret.retiredAt <= RetiredWebhookSecret.acceptedFor && signedAt.map { $0 <= secret.retiredAt } ?? false
        }
        return (webhookSecret.map { [$0] } ?? []) + retired.map(\.secret)
    }
}

/// A webhook signing secret replaced when its endpoint was re-created.
public struct RetiredWebhookSecret: Codable, Hashable, Sendable {
    public var secret: String
    /// Unix seconds.
    public var retiredAt: Int64

    /// As Stripe does when a secret is rolled: the old one keeps working for 24 hours.
    public static let acceptedFor: Int64 = 86_400

    public init(secret: String, retiredAt: Int64) {
        self.secret = secret
        self.retiredAt = retiredAt
    }
}

/// A Stripe set-up step refused or failed, with what to do: a `kind` a caller switches over
/// (the command line's exit status, the server's status code) and a message for people.
public struct StripeSetupError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Hashable, Sendable {
        /// What the user gave is refused: a key of the wrong kind, mode or account, or one
        /// lacking permissions (exit 2; HTTP 422).
        case input
        /// Stripe was never connected: a state to fix first (exit 1; HTTP 409).
        case notConnected
        /// A step failed: Stripe, the network, the secrets file (exit 1; HTTP 502).
        case failure
    }

    public let message: String
    public let kind: Kind

    public init(_ message: String, kind: Kind = .input) {
        self.message = Redact.secrets(in: message)
        self.kind = kind
    }

    /// A refusal of what the user gave.
    public var isInput: Bool { kind == .input }

    public var description: String { message }
}

/// The 0600 file that holds the Stripe key and webhook signing secret: `--secrets FILE` or
/// `$TOLLBOOTH_SECRETS`, else `<database>.secrets.json` beside a SQLite database. A PostgreSQL
/// database has no file to keep it beside: without `--secrets` there is no file (`path` nil),
/// nothing is read and writing is refused, saying how to name one.
public struct SecretsFile: Sendable {
    public let path: String?

    public init(path: String?) { self.path = path }

    /// The file kept beside a SQLite database at `databasePath`.
    public init(databasePath: String) { path = databasePath + ".secrets.json" }

    /// The stored secrets, or nil when Stripe was never connected. A file others may read is
    /// refused: the key in it is as good as a password.
    public func read() throws -> StripeSecrets? {
        guard let path else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        if info.st_mode & 0o077 != 0 {
            throw StripeSetupError("the secrets file \(path) may be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))): run `chmod 600 \(path)`", kind: .failure)
        }
        do {
            return try JSONDecoder().decode(StripeSecrets.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw StripeSetupError("the secrets file \(path) cannot be read: run `tollbooth stripe connect` again", kind: .failure)
        }
    }

    /// Writes the secrets: a new file created 0600, then renamed over the old one, so a reader
    /// sees the old or the new secrets, never half of either.
    public func write(_ secrets: StripeSecrets) throws {
        guard let path else {
            throw StripeSetupError("no secrets file: with a PostgreSQL database, name one with --secrets FILE or $TOLLBOOTH_SECRETS (it is created with mode 0600)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(secrets)
        let temporary = path + ".new"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw StripeSetupError("cannot write the secrets file \(temporary): \(String(cString: strerror(errno)))", kind: .failure)
        }
        let written = data.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw StripeSetupError("cannot write the secrets file \(path): \(String(cString: strerror(errno)))", kind: .failure)
        }
    }
}

/// `tollbooth stripe connect|status|readiness|rotate-key`: checks a key against the
/// installation, registers the webhook endpoint, and keeps the secrets file.
public struct StripeSetup: Sendable {
    /// The webhook events Tollbooth handles (DESIGN.md "Webhooks").
    public static let webhookEvents = [
        "invoice.paid", "invoice.payment_failed", "invoice.payment_action_required", "invoice.marked_uncollectible",
        "invoice.voided", "invoice.finalized", "invoice.finalization_failed", "checkout.session.completed", "checkout.session.expired",
    ]

    public private(set) var settings: Settings
    public let secretsFile: SecretsFile
    public let logger: Logger
    /// Builds a client for a key; tests may hand in a fake transport.
    let makeClient: @Sendable (APIKey, Settings, Logger) throws -> StripeClient

    public init(settings: Settings, secretsFile: SecretsFile, logger: Logger) {
        self.settings = settings
        self.secretsFile = secretsFile
        self.logger = logger
        makeClient = { key, settings, logger in
            let configuration = try StripeConfiguration(apiKey: key, baseURL: settings.stripe.apiBase,
                                                        requestsPerSecond: Double(settings.stripe.requestsPerSecond),
                                                        endpointRequestsPerSecond: Double(settings.stripe.endpointRequestsPerSecond))
            return StripeClient(configuration: configuration, logger: logger)
        }
    }

    /// The installation's mode: production takes live keys, anything else test keys.
    var mode: APIKey.Mode { settings.environment == .production ? .live : .test }

    /// Parses a key and checks it fits this installation.
    public func key(_ text: String) throws -> APIKey {
        let key: APIKey
        do { key = try APIKey(text) } catch { throw StripeSetupError(error.message) }
        if key.mode != mode {
            let installation = settings.environment == .production ? "a production installation" : "a test installation"
            let wanted = mode == .live ? "a live key (sk_live_ or rk_live_)" : "a test key (sk_test_ or rk_test_)"
            throw StripeSetupError("\(key) is a \(key.mode.rawValue)-mode key and this is \(installation): use \(wanted), or set \"environment\" in the settings file")
        }
        return key
    }

    func client(_ key: APIKey) throws -> StripeClient {
        do { return try makeClient(key, settings, logger) } catch let error as StripeError {
            throw StripeSetupError(error.message)
        }
    }

    /// What `connect` did.
    public struct Connection: Sendable {
        public let account: Account
        public let key: APIKey
        public let endpoint: WebhookEndpoint?
        /// True when the endpoint was registered by this call rather than found.
        public let registered: Bool
    }

    /// The same set-up for a server reached at `base` when the settings name no public URL
    /// (`POST /setup/stripe` registers the webhook at the address it was called on).
    public func reached(at base: String) -> StripeSetup {
        guard settings.stripe.webhookUrl == nil, settings.server.publicUrl == nil else { return self }
        var copy = self
        copy.settings.server.publicUrl = base
        return copy
    }

    /// The webhook URL Stripe is given: `stripe.webhookUrl`, else the server's webhook route
    /// on `server.publicUrl`; nil when neither is set.
    public var webhookUrl: String? {
        if let url = settings.stripe.webhookUrl { return url }
        guard var base = settings.server.publicUrl else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        return base + StripeSetup.webhookPath
    }

    /// The server's webhook route.
    public static let webhookPath = "/v1/stripe/webhook"

    /// Verifies the key (GET /v1/account), registers the webhook endpoint once (at
    /// `webhookUrl`, when there is one), and stores key and signing secret in the secrets file.
    /// With `newWebhookSecret`, or when the URL changed, the endpoint is re-created: the old
    /// secret stays accepted for events signed before, for a day, and the old endpoint is
    /// deleted. `name` describes the endpoint in the Dashboard.
    public func connect(keyText: String, name: String? = nil, newWebhookSecret: Bool = false, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Connection {
        let key = try key(keyText)
        let stripe = try client(key)
        let account = try call("verify the key (GET /v1/account)") { () throws(StripeError) in try stripe.retrieveAccount() }
        let stored = try secretsFile.read()
        var secrets = StripeSecrets(apiKey: key.revealed, account: account.id, mode: key.mode.rawValue)
        let sameAccount = stored?.account == account.id
        secrets.retiredWebhookSecrets = sameAccount ? stored?.retiredWebhookSecrets?.filter { now - $0.retiredAt <= RetiredWebhookSecret.acceptedFor } : nil
        var endpoint: WebhookEndpoint?
        var registered = false
        if let url = webhookUrl {
            // Keep the endpoint registered before when it still exists for this account and URL:
            // its signing secret was shown only when it was created.
            if !newWebhookSecret, let stored, sameAccount, stored.webhookUrl == url, let id = stored.webhookEndpointId,
               let secret = stored.webhookSecret,
               let existing = try? stripe.retrieveWebhookEndpoint(id), existing.url == url {
                endpoint = existing
                secrets.webhookEndpointId = id
                secrets.webhookSecret = secret
            } else {
                let created = try call("register the webhook endpoint") { () throws(StripeError) in
                    try stripe.createWebhookEndpoint(
                        WebhookEndpointCreate(url: url, enabledEvents: StripeSetup.webhookEvents, description: name ?? "Tollbooth",
                                              metadata: ["tollbooth": "webhook"]),
                        idempotencyKey: "tollbooth-webhook-\(account.id)-\(StripeSetup.digest(url))-\(newWebhookSecret ? String(now) : "first")")
                }
                guard let secret = created.secret else {
                    throw StripeSetupError("Stripe registered webhook endpoint \(created.id) without returning its signing secret; delete it in the Dashboard and connect again", kind: .failure)
                }
                if let stored, sameAccount, let old = stored.webhookSecret, let oldId = stored.webhookEndpointId, oldId != created.id {
                    // Events already signed with the old secret may still arrive: accepted for a day.
                    secrets.retiredWebhookSecrets = (secrets.retiredWebhookSecrets ?? []) + [RetiredWebhookSecret(secret: old, retiredAt: now)]
                    _ = try? stripe.deleteWebhookEndpoint(oldId)
                }
                endpoint = created
                registered = true
                secrets.webhookEndpointId = created.id
                secrets.webhookSecret = secret.revealed
            }
            secrets.webhookUrl = url
        } else if let stored, sameAccount {
            // No URL to register here (a command run without the server's settings): the
            // endpoint registered before stays, with its secrets.
            secrets.webhookUrl = stored.webhookUrl
            secrets.webhookEndpointId = stored.webhookEndpointId
            secrets.webhookSecret = stored.webhookSecret
        }
        try secretsFile.write(secrets)
        logger.info("stripe connected", metadata: ["stripe.account": "\(account.id)", "stripe.mode": "\(key.mode.rawValue)"])
        return Connection(account: account, key: key, endpoint: endpoint, registered: registered)
    }

    /// The stored connection; fails with what to do when there is none.
    public func stored() throws -> StripeSecrets {
        guard let secrets = try secretsFile.read() else {
            throw StripeSetupError("Stripe is not connected: run `tollbooth stripe connect` with the key in $TOLLBOOTH_STRIPE_KEY or on stdin",
                                   kind: .notConnected)
        }
        return secrets
    }

    /// The key to call Stripe with: `$TOLLBOOTH_STRIPE_KEY` when set, else the stored one.
    public func currentKey(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> APIKey {
        if let text = environment["TOLLBOOTH_STRIPE_KEY"], !text.isEmpty { return try key(text) }
        return try key(try stored().apiKey)
    }

    /// The account and client the bill run issues with, or nil when Stripe is not set up (no
    /// stored connection and no `$TOLLBOOTH_STRIPE_KEY`). A key other than the stored one is
    /// asked for its account (GET /v1/account), since Stripe ids are recorded per account.
    public func connection(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StripeConnection? {
        let stored = try secretsFile.read()
        let given = environment["TOLLBOOTH_STRIPE_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        guard stored != nil || given != nil else { return nil }
        let key = try currentKey(environment: environment)
        let stripe = try client(key)
        if let stored, stored.apiKey == key.revealed {
            return StripeConnection(client: stripe, account: stored.account)
        }
        let account = try call("verify the key (GET /v1/account)") { () throws(StripeError) in try stripe.retrieveAccount() }
        if let stored, stored.account != account.id {
            throw StripeSetupError("$TOLLBOOTH_STRIPE_KEY belongs to account \(account.id), not the connected account \(stored.account): use a key of \(stored.account), or `tollbooth stripe connect` the other account")
        }
        return StripeConnection(client: stripe, account: account.id)
    }

    /// One line of `readiness`.
    public struct Check: Sendable {
        public let name: String
        public let ready: Bool
        public let detail: String
    }

    /// Probes the account, each of the eight permissions and the webhook endpoint.
    public func readiness(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [Check] {
        let key = try currentKey(environment: environment)
        let stripe = try client(key)
        var checks: [Check] = []
        let account: Account?
        do {
            account = try stripe.retrieveAccount()
            checks.append(Check(name: "account", ready: true, detail: "\(account!.id), \(key.mode.rawValue) mode, key \(key)"))
        } catch {
            account = nil
            checks.append(Check(name: "account", ready: false, detail: error.description))
        }
        let run = UUID().uuidString.prefix(8)
        for permission in Permission.allCases {
            do {
                switch try stripe.probe(permission, idempotencyKey: "tollbooth-readiness-\(run)-\(permission.row)") {
                case .granted:
                    checks.append(Check(name: permission.displayName, ready: true, detail: "granted"))
                case .missing:
                    checks.append(Check(name: permission.displayName, ready: false, detail: "missing: \(permission.advice)"))
                }
            } catch {
                checks.append(Check(name: permission.displayName, ready: false, detail: "not checked: \(error.description)"))
            }
        }
        checks.append(webhookCheck(stripe, account: account?.id))
        return checks
    }

    func webhookCheck(_ stripe: StripeClient, account: String?) -> Check {
        let name = "webhook endpoint"
        guard let url = webhookUrl else {
            return Check(name: name, ready: false, detail: "neither server.publicUrl nor stripe.webhookUrl is set: set server.publicUrl to the public URL of `tollbooth serve` (its webhook route is \(StripeSetup.webhookPath)), then run `tollbooth stripe connect`")
        }
        guard let secrets = try? secretsFile.read(), let id = secrets.webhookEndpointId, secrets.webhookSecret != nil,
              account == nil || secrets.account == account else {
            return Check(name: name, ready: false, detail: "not registered: run `tollbooth stripe connect`")
        }
        do {
            let endpoint = try stripe.retrieveWebhookEndpoint(id)
            if endpoint.status != "enabled" {
                return Check(name: name, ready: false, detail: "\(id) is \(endpoint.status): enable it in the Stripe Dashboard")
            }
            if endpoint.url != url {
                return Check(name: name, ready: false, detail: "\(id) points to \(endpoint.url), not \(url): run `tollbooth stripe connect`")
            }
            let missing = StripeSetup.webhookEvents.filter { !endpoint.enabledEvents.contains($0) && !endpoint.enabledEvents.contains("*") }
            if !missing.isEmpty {
                return Check(name: name, ready: false, detail: "\(id) does not send \(missing.joined(separator: ", ")): run `tollbooth stripe connect`")
            }
            return Check(name: name, ready: true, detail: "\(id) enabled, \(url)")
        } catch {
            return Check(name: name, ready: false, detail: "\(id): \(error.description)")
        }
    }

    /// What `rotate-key` did.
    public struct Rotation: Sendable {
        public let account: String
        public let old: String
        public let new: APIKey
    }

    /// Replaces the stored key with one of the same mode and account that holds all eight
    /// permissions. The old key stays stored until the new one has passed every check.
    public func rotateKey(keyText: String) throws -> Rotation {
        let secrets = try stored()
        let key = try key(keyText)
        if key.mode.rawValue != secrets.mode {
            throw StripeSetupError("\(key) is a \(key.mode.rawValue)-mode key and the connected key is \(secrets.mode)-mode: rotate to a key of the same mode")
        }
        if key.revealed == secrets.apiKey {
            throw StripeSetupError("\(key) is the key already connected: create a new key in the Stripe Dashboard first")
        }
        let stripe = try client(key)
        let account = try call("verify the new key (GET /v1/account)") { () throws(StripeError) in try stripe.retrieveAccount() }
        if account.id != secrets.account {
            throw StripeSetupError("\(key) belongs to account \(account.id), not the connected account \(secrets.account): use a key of \(secrets.account)")
        }
        var missing: [Permission] = []
        let run = UUID().uuidString.prefix(8)
        for permission in Permission.allCases {
            let outcome = try call("check \(permission.displayName)") { () throws(StripeError) in
                try stripe.probe(permission, idempotencyKey: "tollbooth-rotate-\(run)-\(permission.row)")
            }
            if case .missing = outcome { missing.append(permission) }
        }
        if !missing.isEmpty {
            let names = missing.map { "'\($0.dashboardSetting)'" }.joined(separator: ", ")
            throw StripeSetupError("\(key) lacks \(missing.count == 1 ? "a permission" : "\(missing.count) permissions") Tollbooth needs: edit the restricted key in the Stripe Dashboard and give it \(names); the connected key is unchanged")
        }
        var updated = secrets
        updated.apiKey = key.revealed
        try secretsFile.write(updated)
        return Rotation(account: account.id, old: Redact.secrets(in: secrets.apiKey), new: key)
    }

    /// Runs a Stripe call, turning its error into a set-up error that says what was being done.
    func call<T>(_ what: String, _ body: () throws(StripeError) -> T) throws -> T {
        do { return try body() } catch {
            // A key Stripe does not know (401) or one without a permission (403) is the user's to fix.
            let reason = error.status == 401 ? "Stripe refused the key (\(error.message))" : error.description
            throw StripeSetupError("could not \(what): \(reason)", kind: error.status == 401 || error.permission != nil ? .input : .failure)
        }
    }

    /// A short, stable digest of a text for idempotency keys (FNV-1a 64, hex).
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
