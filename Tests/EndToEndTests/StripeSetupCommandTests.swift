import Foundation
import Testing
import TestSupport

/// `tollbooth stripe connect|status|readiness|rotate-key` against a `stripe-sim` on loopback:
/// every kind of wrong key is refused with one line and exit 2, nothing is stored, and no output
/// ever shows a whole key.
@Suite struct StripeSetupCommandTests {
    static let testKey = "sk_test_51TollboothConnectKey0001"

    /// A simulator and a database of the backend's, the settings pointing at the simulator.
    struct Setup {
        let sim: Simulator
        let cli: CLI

        init(_ backend: Backend) throws {
            sim = try Simulator()
            cli = try CLI(backend)
            try settings(environment: "test")
        }

        func settings(environment: String) throws {
            try cli.write("tollbooth.json", """
                {"environment": "\(environment)", "stripe": {"apiBase": "\(sim.baseURL)", "webhookUrl": "http://127.0.0.1:9/stripe/webhook"}}
                """)
        }

        var secretsPath: String { cli.secretsPath }

        func stored() throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: secretsPath))) as? [String: Any])
        }

        func connect(_ key: String, input: Bool = false) throws -> Outcome {
            input ? try cli.run(["stripe", "connect"], input: key + "\n")
                  : try cli.run(["stripe", "connect"], environment: ["TOLLBOOTH_STRIPE_KEY": key])
        }

        func rotate(_ key: String) throws -> Outcome {
            try cli.run(["stripe", "rotate-key"], environment: ["TOLLBOOTH_STRIPE_KEY": key])
        }
    }

    /// One line on stderr, exit 2, the key never shown whole.
    func expectRefused(_ outcome: Outcome, _ fragment: String, key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status == 2, "\(outcome)", sourceLocation: sourceLocation)
        #expect(lines(outcome.stderr).count == 1, "\(outcome)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(fragment), "\(outcome)", sourceLocation: sourceLocation)
        if key.count > 12 {
            #expect(!outcome.stderr.contains(key) && !outcome.stdout.contains(key), "\(outcome)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: Backend.allCases)
    func everyWrongPrefixIsRefusedAndNothingIsStored(_ backend: Backend) throws {
        let setup = try Setup(backend)
        for key in ["pk_test_51TollboothPublishable", "sk_51TollboothNoMode", "whsec_TollboothSigningSecret", "rk_prod_51Tollbooth",
                    "sk-test-51Tollbooth", "SK_TEST_51TOLLBOOTH", "sk_test_", "not a key at all"] {
            expectRefused(try setup.connect(key), "is not a secret key (sk_test_, sk_live_) or a restricted key (rk_test_, rk_live_)", key: key)
        }
        #expect(!FileManager.default.fileExists(atPath: setup.secretsPath))
        let empty = try setup.cli.run(["stripe", "connect"], input: "\n")
        #expect(empty.status == 2, "\(empty)")
        #expect(empty.stderr.contains("no Stripe key"))
    }

    @Test(arguments: Backend.allCases)
    func aLiveKeyOnATestInstallationAndTheReverseAreRefused(_ backend: Backend) throws {
        let setup = try Setup(backend)
        let live = "sk_live_51TollboothLiveKey0001"
        expectRefused(try setup.connect(live), "is a live-mode key and this is a test installation: use a test key", key: live)
        try setup.settings(environment: "production")
        expectRefused(try setup.connect(Self.testKey), "is a test-mode key and this is a production installation: use a live key", key: Self.testKey)
        #expect(!FileManager.default.fileExists(atPath: setup.secretsPath))
    }

    @Test(arguments: Backend.allCases)
    func aKeyStripeDoesNotKnowIsRefused(_ backend: Backend) throws {
        let setup = try Setup(backend)
        let unknown = "rk_test_51TollboothNeverRegistered"
        expectRefused(try setup.connect(unknown), "Stripe refused the key", key: unknown)
        #expect(!FileManager.default.fileExists(atPath: setup.secretsPath))
    }

    @Test(arguments: Backend.allCases)
    func connectVerifiesRegistersTheWebhookOnceAndStoresSecretsPrivately(_ backend: Backend) throws {
        let setup = try Setup(backend)
        let first = try setup.connect(Self.testKey, input: true)
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout.contains("in test mode with key sk_test_***0001"), "\(first)")
        #expect(first.stdout.contains("registered: http://127.0.0.1:9/stripe/webhook"), "\(first)")
        #expect(!first.stdout.contains(Self.testKey) && !first.stderr.contains(Self.testKey))
        let attributes = try FileManager.default.attributesOfItem(atPath: setup.secretsPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let secrets = try setup.stored()
        let endpoint = try #require(secrets["webhookEndpointId"] as? String)
        #expect(endpoint.hasPrefix("we_"))
        #expect((secrets["webhookSecret"] as? String)?.hasPrefix("whsec_") == true)
        #expect((secrets["account"] as? String)?.hasPrefix("acct_") == true)

        // Connecting again keeps the endpoint: Stripe shows a signing secret only once.
        let second = try setup.connect(Self.testKey)
        #expect(second.status == 0, "\(second)")
        #expect(second.stdout.contains("webhook endpoint \(endpoint) already registered"), "\(second)")
        #expect(try setup.stored()["webhookEndpointId"] as? String == endpoint)
        let endpoints = try setup.sim.control("GET", "requests", ["method": "POST", "path": "/v1/webhook_endpoints"])
        #expect((endpoints["data"] as? [Any])?.count == 1, "\(endpoints)")

        let status = try setup.cli.run("stripe", "status")
        #expect(status.status == 0, "\(status)")
        let account = try #require(secrets["account"] as? String)
        #expect(lines(status.stdout).map { $0.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) ?? "" }
                == ["account", "mode", "key", "webhook"], "every row, the account's first: \(status)")
        #expect(lines(status.stdout).first?.hasSuffix(account) == true, "\(status)")
        #expect(status.stdout.contains("ends in 0001"), "\(status)")
        #expect(status.stdout.contains(endpoint), "\(status)")
        #expect(!status.stdout.contains(Self.testKey))

        let ready = try setup.cli.run("stripe", "readiness")
        #expect(ready.status == 0, "\(ready)")
        #expect(lines(ready.stdout).count == 11, "\(ready)")  // header, account, eight permissions, webhook
        #expect(!ready.stdout.contains(" NO "), "\(ready)")
    }

    @Test(arguments: Backend.allCases)
    func readinessNamesAMissingPermissionAndHowToFixIt(_ backend: Backend) throws {
        let setup = try Setup(backend)
        let key = "rk_test_51TollboothNoInvoices0002"
        try setup.sim.register(key: key, permissions: eightPermissions.filter { $0 != "rak_invoice_write" })
        #expect(try setup.connect(key).status == 0)
        let ready = try setup.cli.run("stripe", "readiness")
        #expect(ready.status == 1, "\(ready)")
        let row = try #require(lines(ready.stdout).first { $0.hasPrefix("Invoices write") })
        #expect(row.contains("NO"), "\(row)")
        #expect(row.contains("give it 'Invoices: write'"), "\(row)")
        #expect(lines(ready.stdout).filter { $0.contains(" NO ") }.count == 1, "\(ready)")
    }

    @Test(arguments: Backend.allCases)
    func rotateKeyRefusesAnotherAccountAnotherModeAndEachMissingPermission(_ backend: Backend) throws {
        let setup = try Setup(backend)
        #expect(try setup.connect(Self.testKey).status == 0)
        let before = try setup.stored()

        let other = "rk_test_51TollboothOtherAccount03"
        try setup.sim.register(key: other, account: "acct_1OtherAccount", permissions: eightPermissions)
        expectRefused(try setup.rotate(other), "belongs to account acct_1OtherAccount, not the connected account", key: other)

        expectRefused(try setup.rotate("sk_live_51TollboothLiveKey0004"), "is a live-mode key and this is a test installation", key: "sk_live_51TollboothLiveKey0004")
        expectRefused(try setup.rotate("pk_test_51TollboothPublishable"), "is not a secret key", key: "pk_test_51TollboothPublishable")

        let settings = [
            "Connect Accounts: read", "Customers: write", "Payment Methods: read", "Checkout Sessions: write",
            "Customer portal: write", "Invoices: write", "Tax Calculations and Transactions: write", "Webhook Endpoints: write",
        ]
        for (index, missing) in eightPermissions.enumerated() {
            let key = "rk_test_51TollboothMissing\(index)Perm"
            try setup.sim.register(key: key, permissions: eightPermissions.filter { $0 != missing })
            let outcome = try setup.rotate(key)
            #expect(outcome.status == 2, "\(missing): \(outcome)")
            #expect(outcome.stderr.contains("give it '\(settings[index])'"), "\(missing): \(outcome)")
            #expect(lines(outcome.stderr).count == 1)
        }
        // Every refusal left the connected key in place.
        #expect(try setup.stored()["apiKey"] as? String == before["apiKey"] as? String)

        let full = "rk_test_51TollboothAllEight0005"
        try setup.sim.register(key: full, permissions: eightPermissions)
        let rotated = try setup.rotate(full)
        #expect(rotated.status == 0, "\(rotated)")
        #expect(rotated.stdout.contains("sk_test_***0001 -> rk_test_***0005"), "\(rotated)")
        #expect(try setup.stored()["apiKey"] as? String == full)
        #expect(try setup.stored()["webhookEndpointId"] as? String == before["webhookEndpointId"] as? String)
        #expect(try setup.cli.run("stripe", "status").stdout.contains("ends in 0005"))
    }

    @Test(arguments: Backend.allCases)
    func nothingConnectedSaysWhatToDo(_ backend: Backend) throws {
        let setup = try Setup(backend)
        let status = try setup.cli.run("stripe", "status")
        #expect(status.status == 1, "\(status)")
        #expect(status.stderr == "error: Stripe is not connected: run `tollbooth stripe connect` with the key in $TOLLBOOTH_STRIPE_KEY or on stdin\n")
    }
}
