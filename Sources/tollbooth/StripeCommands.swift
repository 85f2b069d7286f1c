import ArgumentParser
import Foundation
import Logging
import Pipeline
import Stripe

/// `tollbooth stripe connect|status|readiness|rotate-key`.
struct StripeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stripe",
        abstract: "Connect Tollbooth to a Stripe account and check what it may do there.",
        discussion: """
            The key comes from $TOLLBOOTH_STRIPE_KEY or one line on stdin, never from the command \
            line. It must be a secret key (sk_) or a restricted key (rk_) with eight permissions: \
            Connect Accounts read; Customers write; Payment Methods read; Checkout Sessions write; \
            Customer portal write; Invoices write; Tax Calculations and Transactions write; Webhook \
            Endpoints write. Test installations take test keys, production installations live keys. \
            The key and the webhook signing secret are kept in DATABASE.secrets.json (mode 0600).
            """,
        subcommands: [Connect.self, Status.self, Readiness.self, RotateKey.self])

    /// The key given for connect or rotate-key: $TOLLBOOTH_STRIPE_KEY, else a line of stdin.
    static func givenKey() throws -> String {
        if let key = ProcessInfo.processInfo.environment["TOLLBOOTH_STRIPE_KEY"], !key.isEmpty { return key }
        if isatty(STDIN_FILENO) != 0 { FileHandle.standardError.write(Data("Stripe key: ".utf8)) }
        guard let line = readLine(strippingNewline: true), !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw InputError("no Stripe key: set $TOLLBOOTH_STRIPE_KEY or give the key on stdin (never as an argument)")
        }
        return line
    }

    static func setup(_ options: GlobalOptions) throws -> StripeSetup {
        StripeSetup(settings: try Settings.load(path: options.config), secretsFile: options.secretsFile,
                    logger: Logger(label: "tollbooth.stripe"))
    }

    /// The Stripe connection the bill run issues with; nil when Stripe is not set up.
    static func connection(_ options: GlobalOptions) throws -> StripeConnection? {
        try setup(options).connection()
    }

    struct Connect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a key, register the webhook endpoint once and store both secrets.",
            discussion: """
                The endpoint is stripe.webhookUrl, or serve's webhook route (/v1/stripe/webhook) on \
                server.publicUrl. --new-webhook-secret re-creates it with a new signing secret and \
                deletes the old endpoint; the old secret stays accepted for a day for events signed \
                before, as Stripe does when a secret is rolled.
                """)
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Re-create the webhook endpoint with a new signing secret.") var newWebhookSecret = false

        func run() throws {
            let connection = try StripeCommand.setup(options).connect(keyText: try StripeCommand.givenKey(), newWebhookSecret: newWebhookSecret)
            printOut("connected to \(connection.account.id) in \(connection.key.mode.rawValue) mode with key \(connection.key)")
            if let endpoint = connection.endpoint {
                printOut("webhook endpoint \(endpoint.id) \(connection.registered ? "registered" : "already registered"): \(endpoint.url)")
            } else {
                printOut("webhook endpoint not registered: set server.publicUrl (or stripe.webhookUrl) in the settings file and connect again")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the connected account, mode, key fingerprint and webhook endpoint (no call to Stripe).")
        @OptionGroup var options: GlobalOptions

        func run() throws {
            let secrets = try StripeCommand.setup(options).stored()
            var table = Table("", "")
            table.append(["account", secrets.account])
            table.append(["mode", secrets.mode])
            table.append(["key", "ends in \(Redact.fingerprint(of: secrets.apiKey)) (\(Redact.secrets(in: secrets.apiKey)))"])
            table.append(["webhook endpoint", secrets.webhookEndpointId.map { "\($0) \(secrets.webhookUrl ?? "")" } ?? "not registered"])
            // The header row is blank: drop it, keeping every row after it.
            printOut(table.rendered.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n"))
        }
    }

    struct Readiness: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Probe the account, each of the eight permissions and the webhook endpoint; exit 1 if anything is missing.")
        @OptionGroup var options: GlobalOptions

        func run() throws {
            let checks = try StripeCommand.setup(options).readiness()
            var table = Table("CHECK", "READY", "DETAIL")
            for check in checks { table.append([check.name, check.ready ? "yes" : "NO", check.detail]) }
            printOut(table.rendered)
            let missing = checks.filter { !$0.ready }.count
            if missing > 0 {
                printError("error: \(missing) of \(checks.count) checks failed: fix them as the table says, then run `tollbooth stripe readiness` again")
                throw ExitCode(ErrorReport.failure)
            }
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Replace the stored key with a new one of the same mode and account holding all eight permissions.")
        @OptionGroup var options: GlobalOptions

        func run() throws {
            let rotation = try StripeCommand.setup(options).rotateKey(keyText: try StripeCommand.givenKey())
            printOut("rotated the key of \(rotation.account): \(rotation.old) -> \(rotation.new); revoke the old key in the Stripe Dashboard")
        }
    }
}
