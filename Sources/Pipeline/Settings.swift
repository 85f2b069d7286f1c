import Billing
import Foundation

/// The installation settings of DESIGN.md ("Formats"): one JSON file, every key optional,
/// unknown keys ignored. Secrets never live here: the Stripe key comes from
/// `$TOLLBOOTH_STRIPE_KEY` or a secrets file, so a file holding one is refused.
public struct Settings: Hashable, Sendable {
    public enum Environment: String, Hashable, Sendable, CaseIterable {
        case production
        case test
    }

    public enum TaxProvider: String, Hashable, Sendable, CaseIterable {
        case none
        case rates
        case stripe
    }

    public struct Tax: Hashable, Sendable {
        public var provider: TaxProvider = .none
        /// Fail the invoice, rather than issue it without tax, when no tax can be computed.
        public var enforced = false
        public var rates = TaxRateTable([])

        public init() {}
    }

    public struct Stripe: Hashable, Sendable {
        public static let defaultAPIBase = "https://api.stripe.com"

        public var apiBase = Stripe.defaultAPIBase
        /// Requests a second to Stripe in all, reads and writes together.
        public var requestsPerSecond: Int
        /// Requests a second to any one endpoint (`POST /v1/invoices/{id}/add_lines`).
        public var endpointRequestsPerSecond = 22
        /// Invoice lines per `add_lines` call; Stripe holds at most 250 on an invoice.
        public var linesPerRequest = 50
        /// Invoices the issue stage has in flight at once.
        public var concurrency = 4
        /// The public URL of `serve`'s webhook route, registered on `stripe connect`.
        public var webhookUrl: String?

        /// Below Stripe's limits (a global 25/s in a sandbox and 100/s in live mode, 25/s per
        /// endpoint in both), leaving room for the Dashboard and other clients of the account.
        public init(environment: Environment) {
            switch environment {
            case .production: requestsPerSecond = 90
            case .test: requestsPerSecond = 22
            }
        }
    }

    public var environment: Environment = .test
    /// How long after a period ends the close stage waits for late events.
    public var collectionWindow = ISODuration(seconds: 3600)
    public var maxPaymentOverdueDays = 3
    /// How long a bill-run worker's claim on customers lasts unless renewed (`run --worker`):
    /// a worker that dies loses its customers to the others this long after its last renewal.
    public var leaseSeconds = 60
    public var tax = Tax()
    public var stripe = Stripe(environment: .test)
    /// How long de-duplication keys are kept after an event's time.
    public var dedupeRetention = ISODuration(days: 90)
    public var backupDir = "./backups"
    public var server = Server()

    /// `tollbooth serve`.
    public struct Server: Hashable, Sendable {
        /// HOST:PORT to listen on.
        public var listen = "127.0.0.1:8080"
        /// The URL the world reaches the server at (Stripe's webhook, links to the usage page).
        public var publicUrl: String?
        /// Request bodies over this are refused (413) before they are read whole.
        public var maxBodyBytes = 1 << 20
        /// How long the first event of a group waits for others to share its transaction.
        public var eventsCommitMillis = 5

        public init() {}
    }

    /// The defaults, as if the file were empty.
    public init() {}

    /// The file name read when `--config` is not given.
    public static let defaultPath = "./tollbooth.json"

    /// Reads the settings file. `path` nil means the default file, which may be missing (then
    /// every default applies); a file named explicitly must exist.
    public static func load(path: String?) throws(SettingsError) -> Settings {
        let file = path ?? defaultPath
        guard FileManager.default.fileExists(atPath: file) else {
            if path == nil { return Settings() }
            throw SettingsError(.missingFile, "settings file \(file) does not exist: create it or leave out --config")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SettingsError(.unreadableFile, "settings file \(file) cannot be read: check its permissions")
        }
        do {
            return try Settings(json: data)
        } catch {
            throw SettingsError(error.kind, "\(file): \(error.message)")
        }
    }

    /// Decodes the settings JSON. The error names the first key with a bad value.
    public init(json data: Data) throws(SettingsError) {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw SettingsError(.notAnObject, "not valid JSON; the settings are one JSON object")
        }
        guard case .object = root else { throw SettingsError(.notAnObject, "the settings must be a JSON object, not \(root.kindName)") }
        try Settings.refuseSecrets(in: root, path: "")
        let reader = SettingsReader(root: root)

        if let value = try reader.string("environment") {
            guard let environment = Environment(rawValue: value) else {
                throw SettingsError(.invalidValue(key: "environment"), "environment must be production or test, not \"\(value)\"")
            }
            self.environment = environment
        }
        if let value = try reader.duration("collectionWindow") { collectionWindow = value }
        if let value = try reader.wholeNumber("maxPaymentOverdueDays", minimum: 0) { maxPaymentOverdueDays = value }
        if let value = try reader.wholeNumber("leaseSeconds", minimum: 3) { leaseSeconds = value }
        if let value = try reader.duration("dedupeRetention") {
            guard !value.isZero else { throw SettingsError(.invalidValue(key: "dedupeRetention"), "dedupeRetention must be longer than zero (default P90D)") }
            dedupeRetention = value
        }
        if let value = try reader.string("backupDir") {
            guard !value.isEmpty else { throw SettingsError(.invalidValue(key: "backupDir"), "backupDir must not be empty (default ./backups)") }
            backupDir = value
        }

        if try reader.object("server") {
            if let value = try reader.string("server.listen") {
                guard ListenAddress(value) != nil else {
                    throw SettingsError(.invalidValue(key: "server.listen"), "server.listen must be HOST:PORT such as 127.0.0.1:8080, not \"\(value)\"")
                }
                server.listen = value
            }
            if let value = try reader.string("server.publicUrl") { server.publicUrl = value }
            if let value = try reader.wholeNumber("server.maxBodyBytes", minimum: 1024) { server.maxBodyBytes = value }
            if let value = try reader.wholeNumber("server.eventsCommitMillis", minimum: 0) { server.eventsCommitMillis = value }
        }
        if try reader.object("tax") {
            if let value = try reader.string("tax.provider") {
                guard let provider = TaxProvider(rawValue: value) else {
                    throw SettingsError(.invalidValue(key: "tax.provider"), "tax.provider must be none, rates or stripe, not \"\(value)\"")
                }
                tax.provider = provider
            }
            if let value = try reader.bool("tax.enforced") { tax.enforced = value }
            if let rows = try reader.array("tax.rates") {
                var rates: [TaxRate] = []
                for index in rows.indices {
                    let row = "tax.rates[\(index)]"
                    guard try reader.object(row) else { continue }
                    guard let country = try reader.string("\(row).country") else { throw SettingsError(.invalidValue(key: "\(row).country"), "\(row).country is required") }
                    guard let text = try reader.string("\(row).rate") else {
                        throw SettingsError(.invalidValue(key: "\(row).rate"), "\(row).rate is required, as a decimal string (\"0.19\" for 19%)")
                    }
                    guard let rate = Decimal(exactly: text) else {
                        throw SettingsError(.invalidValue(key: "\(row).rate"), "\(row).rate must be a decimal string such as \"0.19\", not \"\(text)\"")
                    }
                    let name = try reader.string("\(row).name") ?? "Tax"
                    rates.append(TaxRate(country: country, state: try reader.string("\(row).state"), rate: rate, name: name))
                }
                do { tax.rates = try TaxRateTable(validating: rates) } catch {
                    throw SettingsError(.invalidValue(key: "tax.rates"), "tax.rates: \(error.message)")
                }
            }
        }

        stripe = Stripe(environment: environment)
        if try reader.object("stripe") {
            if let value = try reader.string("stripe.apiBase") {
                guard let url = URL(string: value), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
                    throw SettingsError(.invalidValue(key: "stripe.apiBase"), "stripe.apiBase must be an http(s) URL such as \(Stripe.defaultAPIBase), not \"\(value)\"")
                }
                stripe.apiBase = value
            }
            for old in ["writesPerSecond", "readsPerSecond"] where reader.value("stripe.\(old)") != nil {
                throw SettingsError(.retired(key: "stripe.\(old)"), "stripe.\(old) is no longer read: Stripe limits an account's requests in all and per endpoint, not reads and writes apart; set stripe.requestsPerSecond (default \(stripe.requestsPerSecond) here) and stripe.endpointRequestsPerSecond (default 22) instead")
            }
            if let value = try reader.wholeNumber("stripe.requestsPerSecond", minimum: 1) { stripe.requestsPerSecond = value }
            if let value = try reader.wholeNumber("stripe.endpointRequestsPerSecond", minimum: 1) { stripe.endpointRequestsPerSecond = value }
            if let value = try reader.wholeNumber("stripe.linesPerRequest", minimum: 1) {
                guard value <= 250 else { throw SettingsError(.invalidValue(key: "stripe.linesPerRequest"), "stripe.linesPerRequest must be at most 250 (the lines a Stripe invoice holds), not \(value)") }
                stripe.linesPerRequest = value
            }
            if let value = try reader.wholeNumber("stripe.concurrency", minimum: 1) {
                guard value <= 32 else { throw SettingsError(.invalidValue(key: "stripe.concurrency"), "stripe.concurrency must be at most 32, not \(value)") }
                stripe.concurrency = value
            }
            if let value = try reader.string("stripe.webhookUrl") {
                guard let url = URL(string: value), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                    throw SettingsError(.invalidValue(key: "stripe.webhookUrl"), "stripe.webhookUrl must be the public http(s) URL of the webhook route, not \"\(value)\"")
                }
                stripe.webhookUrl = value
            }
        }
    }

    /// A Stripe secret or restricted key anywhere in the file is refused without echoing it:
    /// the file is typically readable by more people than the key should be.
    static func refuseSecrets(in value: JSONValue, path: String, key: String = "") throws(SettingsError) {
        switch value {
        case .object(let members):
            for (name, member) in members.sorted(by: { $0.0 < $1.0 }) {
                try refuseSecrets(in: member, path: path.isEmpty ? name : "\(path).\(name)", key: name)
            }
        case .array(let items):
            for (index, item) in items.enumerated() { try refuseSecrets(in: item, path: "\(path)[\(index)]", key: key) }
        case .string(let text):
            if looksLikeSecret(text, key: key) {
                throw SettingsError(.secret(key: path), "\(path) holds a Stripe secret key; secrets never go in the settings file: remove it and set $TOLLBOOTH_STRIPE_KEY instead")
            }
        case .null, .bool, .number:
            return
        }
    }

    static func looksLikeSecret(_ text: String, key: String) -> Bool {
        let live = ["sk_live_", "sk_test_", "rk_live_", "rk_test_"].contains { text.hasPrefix($0) }
        let namedKey = key.lowercased().hasSuffix("key") && (text.hasPrefix("sk_") || text.hasPrefix("rk_"))
        return live || namedKey
    }
}

/// A settings file that cannot be used: what is wrong as a case, and one line for people that
/// names the key.
public struct SettingsError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The file named by `--config` does not exist.
        case missingFile
        /// The file exists but cannot be read.
        case unreadableFile
        /// Not one JSON object.
        case notAnObject
        /// The value at `key` (a dotted path, "tax.rates[2].rate") is missing or wrong.
        case invalidValue(key: String)
        /// `key` holds a Stripe secret key, which belongs in the environment.
        case secret(key: String)
        /// `key` is no longer read; the message says what replaced it.
        case retired(key: String)
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Typed access to dotted paths ("tax.rates[2].rate") of the settings JSON, each miss of type
/// reported with the path and the expected kind.
private struct SettingsReader {
    let root: JSONValue

    func value(_ path: String) -> JSONValue? {
        var current: JSONValue? = root
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var indexes: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                indexes.insert(Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) ?? -1, at: 0)
                name = name[..<open]
            }
            current = current?[String(name)]
            for index in indexes {
                guard case .array(let items)? = current, items.indices.contains(index) else { return nil }
                current = items[index]
            }
        }
        if case .null? = current { return nil }
        return current
    }

    func string(_ path: String) throws(SettingsError) -> String? {
        guard let found = value(path) else { return nil }
        guard case .string(let text) = found else { throw SettingsError(.invalidValue(key: path), "\(path) must be a string, not \(found.kindName)") }
        return text
    }

    func bool(_ path: String) throws(SettingsError) -> Bool? {
        guard let found = value(path) else { return nil }
        guard case .bool(let flag) = found else { throw SettingsError(.invalidValue(key: path), "\(path) must be true or false, not \(found.kindName)") }
        return flag
    }

    func wholeNumber(_ path: String, minimum: Int) throws(SettingsError) -> Int? {
        guard let found = value(path) else { return nil }
        guard case .number(let text) = found, let number = Int(text), number >= minimum else {
            throw SettingsError(.invalidValue(key: path), "\(path) must be a whole number of at least \(minimum), not \(found.compact)")
        }
        return number
    }

    func duration(_ path: String) throws(SettingsError) -> ISODuration? {
        guard let text = try string(path) else { return nil }
        guard let duration = ISODuration(text) else {
            throw SettingsError(.invalidValue(key: path), "\(path) must be an ISO 8601 duration such as PT1H or P90D, not \"\(text)\"")
        }
        return duration
    }

    /// True when the key holds an object, false when it is absent.
    func object(_ path: String) throws(SettingsError) -> Bool {
        guard let found = value(path) else { return false }
        guard case .object = found else { throw SettingsError(.invalidValue(key: path), "\(path) must be an object, not \(found.kindName)") }
        return true
    }

    func array(_ path: String) throws(SettingsError) -> [JSONValue]? {
        guard let found = value(path) else { return nil }
        guard case .array(let items) = found else { throw SettingsError(.invalidValue(key: path), "\(path) must be an array, not \(found.kindName)") }
        return items
    }
}

/// `HOST:PORT` (`[::1]:8080` for IPv6); port 0 asks for a free one.
public struct ListenAddress: Hashable, Sendable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}
