import Billing
import Foundation
import Stripe
import TestSupport
import Testing

/// Restricted keys and their eight permissions, keys the simulator does not know, live keys,
/// and that no error the client makes shows a key whole.
@Suite struct KeyTests {
    static let restrictedKey = "rk_test_51TollboothRestrictedKey0000a1b2"

    @Test func aKeyWithoutInvoicesWriteIsRefusedWithTheFix() throws {
        let sim = try Simulator()
        let allButInvoices = Permission.allCases.filter { $0 != .invoicesWrite }.map(\.rakName)
        try sim.register(key: KeyTests.restrictedKey, permissions: allButInvoices)
        let stripe = try sim.client(key: KeyTests.restrictedKey)
        let customer = try stripe.createCustomer(CustomerCreate(email: "rk@example.com"), idempotencyKey: "customer-rk")

        let refused = try #require(stripeError { () throws(StripeError) in
            try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-rk")
        })
        #expect(refused.kind == .api)
        #expect(refused.status == 403)
        #expect(refused.missingPermission == "rak_invoices_write")
        #expect(refused.permission == .invoicesWrite)
        #expect(refused.attempts == 1, "a missing permission is not retried")
        #expect(refused.isTransient == false)
        #expect(refused.description.contains("'Invoices: write'"), "\(refused)")
        #expect(refused.description.contains("edit the restricted key in the Stripe Dashboard"), "\(refused)")
        #expect(refused.description.contains("permission 6 of 8"), "\(refused)")
        #expect(try sim.requests(method: "POST", path: "/v1/invoices").map(\.status) == [403])

        // A list needs rak_invoices_read, which belongs to the same row: the fix is the same.
        let listed = try #require(stripeError { () throws(StripeError) in try stripe.listInvoices() })
        #expect(listed.missingPermission == "rak_invoices_read")
        #expect(listed.permission == .invoicesWrite)
    }

    /// A key holding every permission but `missing`: its probe is `.missing`, the other seven
    /// `.granted`.
    @Test(arguments: Permission.allCases)
    func theProbesFindTheOnePermissionAKeyLacks(missing: Permission) throws {
        let sim = try Simulator()
        let key = "rk_test_51TollboothProbe\(missing.row)Key0000c3d4"
        try sim.register(key: key, permissions: Permission.allCases.filter { $0 != missing }.map(\.rakName))
        let stripe = try sim.client(key: key)
        for permission in Permission.allCases {
            let outcome = try stripe.probe(permission, idempotencyKey: "readiness-\(missing.row)-\(permission.row)")
            switch outcome {
            case .granted:
                #expect(permission != missing, "\(permission) was granted to a key without it")
            case .missing(let error):
                #expect(permission == missing, "\(permission) was reported missing from a key holding it: \(error)")
                #expect(error.permission == missing)
                #expect(error.status == 403)
                #expect(error.description.contains(missing.advice), "\(error)")
            }
        }
        // Probes change nothing.
        #expect(try sim.requests().allSatisfy { [403, 404, 200].contains($0.status) })
    }

    @Test func aKeyHoldingAllEightPassesEveryProbe() throws {
        let sim = try Simulator()
        try sim.register(key: KeyTests.restrictedKey, permissions: Permission.allCases.map(\.rakName))
        let stripe = try sim.client(key: KeyTests.restrictedKey)
        for permission in Permission.allCases {
            guard case .granted = try stripe.probe(permission, idempotencyKey: "readiness-all-\(permission.row)") else {
                Issue.record("\(permission) not granted")
                continue
            }
        }
        // A secret key holds every permission.
        let secret = try sim.client()
        for permission in Permission.allCases {
            guard case .granted = try secret.probe(permission, idempotencyKey: "readiness-secret-\(permission.row)") else {
                Issue.record("\(permission) not granted to a secret key")
                continue
            }
        }
    }

    @Test func anUnknownKeyIs401AndTheProbeThrows() throws {
        let sim = try Simulator()
        let unknown = "rk_test_51TollboothNeverRegistered00009z8y"
        let stripe = try sim.client(key: unknown)
        let refused = try #require(stripeError { () throws(StripeError) in try stripe.retrieveAccount() })
        #expect(refused.kind == .api)
        #expect(refused.status == 401)
        #expect(refused.attempts == 1)
        #expect(refused.permission == nil)
        #expect(refused.description.contains("rotate-key"), "\(refused)")
        let probe = try #require(stripeError { () throws(StripeError) in try stripe.probe(.invoicesWrite, idempotencyKey: "readiness-unknown") })
        #expect(probe.status == 401, "a refused key is neither granted nor missing a permission")
    }

    @Test func noErrorShowsAKeyOrSecretWhole() throws {
        let sim = try Simulator()
        try sim.register(key: KeyTests.restrictedKey, permissions: ["rak_customer_write"])
        let recorder = LogRecorder()
        let stripe = try sim.client(logger: recorder.logger)
        let restricted = try sim.client(key: KeyTests.restrictedKey, logger: recorder.logger)
        let unknown = try sim.client(key: "sk_live_51TollboothLiveKeyInTestMode00005e6f", logger: recorder.logger)
        let endpoint = try stripe.createWebhookEndpoint(WebhookEndpointCreate(url: "http://127.0.0.1:9/hooks", enabledEvents: ["invoice.paid"]),
                                                        idempotencyKey: "endpoint")
        let signing = try #require(endpoint.secret).revealed
        let secrets = [defaultKey, KeyTests.restrictedKey, unknown.configuration.apiKey.revealed, signing]

        var found: [StripeError?] = [
            // Stripe echoes an id it cannot find; here the id is a key, then a signing secret.
            stripeError { () throws(StripeError) in try stripe.retrieveCustomer(defaultKey) },
            stripeError { () throws(StripeError) in try stripe.retrieveWebhookEndpoint(signing) },
            stripeError { () throws(StripeError) in try restricted.retrieveAccount() },
            stripeError { () throws(StripeError) in try unknown.retrieveAccount() },
            stripeError { () throws(StripeError) in try stripe.createCustomer(CustomerCreate(), idempotencyKey: "endpoint") },
        ]
        // Retried (and logged), then given up.
        try sim.fault("500", method: "GET", path: "/v1/customers/", count: 4)
        found.append(stripeError { () throws(StripeError) in try stripe.retrieveCustomer(KeyTests.restrictedKey) })
        let errors = found.compactMap { $0 }
        #expect(errors.count == 6)
        #expect(errors.first?.message.contains("sk_test_***" + defaultKey.suffix(4)) == true,
                "the echoed key is there, masked: \(errors.first?.message ?? "")")
        #expect(errors.first?.call == "GET /v1/customers/sk_test_***" + defaultKey.suffix(4))
        for error in errors {
            for secret in secrets {
                #expect(!error.description.contains(secret), "\(error.description)")
                #expect(!error.message.contains(secret), "\(error.message)")
                #expect(!(error.call ?? "").contains(secret), "the call's path holds the id: \(error.call ?? "")")
                #expect(!String(describing: error).contains(secret))
                #expect(!String(reflecting: error).contains(secret))
            }
        }
        #expect(recorder.records.contains { $0.level == .notice }, "the retries were logged")
        for line in recorder.records {
            for secret in secrets {
                #expect(!line.message.contains(secret), "\(line.message)")
                #expect(!line.metadata.values.contains { "\($0)".contains(secret) }, "stripe.path holds the id: \(line.metadata)")
            }
        }
    }

    @Test func aLiveKeyIsRefusedInTestModeAndAcceptedInLiveMode() throws {
        let liveKey = "sk_live_51TollboothLiveKey00000000007g8h"
        let testMode = try Simulator()
        let liveInTestMode = try testMode.client(key: liveKey)
        let refused = try #require(stripeError { () throws(StripeError) in try liveInTestMode.retrieveAccount() })
        #expect(refused.status == 401)
        #expect(refused.kind == .api)
        #expect(refused.message.contains("sk_live_"), "Stripe names the kind of key it refused: \(refused.message)")

        let liveMode = try Simulator("--live")
        let live = try liveMode.client(key: liveKey)
        #expect(live.configuration.apiKey.mode == .live)
        #expect(try live.retrieveAccount().id == defaultAccount)
        let customer = try live.createCustomer(CustomerCreate(email: "live@example.com"), idempotencyKey: "customer-live")
        #expect(customer.livemode)
        let testInLiveMode = try liveMode.client()
        let testKeyInLiveMode = try #require(stripeError { () throws(StripeError) in try testInLiveMode.retrieveAccount() })
        #expect(testKeyInLiveMode.status == 401, "a test key is refused in live mode")
    }
}
