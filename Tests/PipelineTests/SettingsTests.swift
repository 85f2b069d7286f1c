import Billing
import Foundation
import Pipeline
import Testing

@Suite struct SettingsTests {
    func settings(_ json: String) throws(SettingsError) -> Settings { try Settings(json: Data(json.utf8)) }

    func error(_ json: String) -> String? {
        do { _ = try settings(json); return nil } catch { return error.message }
    }

    @Test func anEmptyFileGivesEveryDefault() throws {
        let s = try settings("{}")
        #expect(s == Settings())
        #expect(s.environment == .test)
        #expect(s.collectionWindow == ISODuration("PT1H"))
        #expect(s.maxPaymentOverdueDays == 3)
        #expect(s.tax.provider == .none)
        #expect(s.tax.enforced == false)
        #expect(s.tax.rates.rates.isEmpty)
        #expect(s.stripe.apiBase == "https://api.stripe.com")
        #expect(s.stripe.requestsPerSecond == 22)
        #expect(s.stripe.endpointRequestsPerSecond == 22)
        #expect(s.stripe.linesPerRequest == 50)
        #expect(s.stripe.concurrency == 4)
        #expect(s.stripe.webhookUrl == nil)
        #expect(s.dedupeRetention == ISODuration("P90D"))
        #expect(s.backupDir == "./backups")
    }

    @Test func productionRaisesTheGlobalStripeRateNotTheEndpointOne() throws {
        let s = try settings(#"{"environment": "production", "stripe": {"linesPerRequest": 250}}"#)
        #expect(s.stripe.requestsPerSecond == 90)
        #expect(s.stripe.endpointRequestsPerSecond == 22)
        #expect(s.stripe.linesPerRequest == 250)
    }

    @Test func theOldReadAndWriteRatesAreRefusedNamingTheNewKeys() {
        #expect(error(#"{"stripe": {"writesPerSecond": 20}}"#)
                == "stripe.writesPerSecond is no longer read: Stripe limits an account's requests in all and per endpoint, not reads and writes apart; set stripe.requestsPerSecond (default 22 here) and stripe.endpointRequestsPerSecond (default 22) instead")
        #expect(error(#"{"environment": "production", "stripe": {"readsPerSecond": 80}}"#)
                == "stripe.readsPerSecond is no longer read: Stripe limits an account's requests in all and per endpoint, not reads and writes apart; set stripe.requestsPerSecond (default 90 here) and stripe.endpointRequestsPerSecond (default 22) instead")
    }

    @Test func everyKeyIsRead() throws {
        let s = try settings("""
            {"environment": "test", "collectionWindow": "PT2H", "maxPaymentOverdueDays": 0,
             "tax": {"provider": "rates", "enforced": true, "rates": [
                {"country": "DE", "rate": "0.19", "name": "VAT"},
                {"country": "US", "state": "CA", "rate": "0.0725", "name": "CA sales tax"}]},
             "stripe": {"apiBase": "http://127.0.0.1:12111", "requestsPerSecond": 5, "endpointRequestsPerSecond": 3,
                        "linesPerRequest": 10, "concurrency": 2, "webhookUrl": "https://billing.example/webhooks/stripe"},
             "dedupeRetention": "P30D", "backupDir": "/var/backups/tollbooth", "somethingNew": [1, 2]}
            """)
        #expect(s.collectionWindow == ISODuration("PT2H"))
        #expect(s.maxPaymentOverdueDays == 0)
        #expect(s.tax.provider == .rates)
        #expect(s.tax.enforced)
        #expect(s.tax.rates.rate(country: "us", state: "ca")?.rate == Decimal(exactly: "0.0725"))
        #expect(s.tax.rates.rate(country: "DE", state: nil)?.name == "VAT")
        #expect(s.stripe.apiBase == "http://127.0.0.1:12111")
        #expect(s.stripe.requestsPerSecond == 5)
        #expect(s.stripe.endpointRequestsPerSecond == 3)
        #expect(s.stripe.linesPerRequest == 10)
        #expect(s.stripe.concurrency == 2)
        #expect(s.stripe.webhookUrl == "https://billing.example/webhooks/stripe")
        #expect(s.dedupeRetention == ISODuration("P30D"))
        #expect(s.backupDir == "/var/backups/tollbooth")
    }

    @Test func aBadValueNamesItsKey() {
        #expect(error(#"{"environment": "staging"}"#) == "environment must be production or test, not \"staging\"")
        #expect(error(#"{"collectionWindow": "1 hour"}"#) == "collectionWindow must be an ISO 8601 duration such as PT1H or P90D, not \"1 hour\"")
        #expect(error(#"{"maxPaymentOverdueDays": -1}"#) == "maxPaymentOverdueDays must be a whole number of at least 0, not -1")
        #expect(error(#"{"tax": {"provider": "avalara"}}"#) == "tax.provider must be none, rates or stripe, not \"avalara\"")
        #expect(error(#"{"tax": {"enforced": "yes"}}"#) == "tax.enforced must be true or false, not a string")
        #expect(error(#"{"tax": {"rates": [{"country": "DE", "rate": 0.19, "name": "VAT"}]}}"#) == "tax.rates[0].rate must be a string, not a number")
        #expect(error(#"{"tax": {"rates": [{"country": "DE", "rate": "19", "name": "VAT"}]}}"#)
                == "tax.rates: tax rate VAT for DE is 19; write it as a fraction from 0 to 1 (\"0.19\" for 19%)")
        #expect(error(#"{"stripe": {"requestsPerSecond": 0}}"#) == "stripe.requestsPerSecond must be a whole number of at least 1, not 0")
        #expect(error(#"{"stripe": {"linesPerRequest": 251}}"#) == "stripe.linesPerRequest must be at most 250 (the lines a Stripe invoice holds), not 251")
        #expect(error(#"{"stripe": {"concurrency": 0}}"#) == "stripe.concurrency must be a whole number of at least 1, not 0")
        #expect(error(#"{"stripe": {"apiBase": "api.stripe.com"}}"#) == "stripe.apiBase must be an http(s) URL such as https://api.stripe.com, not \"api.stripe.com\"")
        #expect(error(#"{"dedupeRetention": "PT0S"}"#) == "dedupeRetention must be longer than zero (default P90D)")
        #expect(error("[]") == "the settings must be a JSON object, not an array")
        #expect(error("{") == "not valid JSON; the settings are one JSON object")
    }

    @Test func aStripeSecretIsRefusedAndNeverEchoed() {
        for json in [#"{"stripe": {"apiKey": "sk_test_123"}}"#, #"{"stripe": {"secretKey": "rk_live_123"}}"#,
                     #"{"stripe": {"key": "sk_123"}}"#, #"{"notes": ["sk_live_123"]}"#] {
            let message = error(json)
            #expect(message?.contains("$TOLLBOOTH_STRIPE_KEY") == true, "\(json)")
            #expect(message?.contains("_123") == false, "\(json)")
        }
        // A publishable key is not a secret.
        #expect(error(#"{"stripe": {"publishableKey": "pk_test_123"}}"#) == nil)
    }
}

@Suite struct SettingsErrorKindTests {
    func kind(_ json: String) -> SettingsError.Kind? {
        do { _ = try Settings(json: Data(json.utf8)); return nil } catch { return error.kind }
    }

    @Test func eachRefusalIsACaseNamingTheKey() {
        #expect(kind("[1]") == .notAnObject)
        #expect(kind("{") == .notAnObject)
        #expect(kind(#"{"environment": "staging"}"#) == .invalidValue(key: "environment"))
        #expect(kind(#"{"stripe": {"concurrency": 33}}"#) == .invalidValue(key: "stripe.concurrency"))
        #expect(kind(#"{"stripe": {"linesPerRequest": "ten"}}"#) == .invalidValue(key: "stripe.linesPerRequest"))
        #expect(kind(#"{"tax": {"rates": [{"country": "DE", "rate": "x"}]}}"#) == .invalidValue(key: "tax.rates[0].rate"))
        #expect(kind(#"{"stripe": {"readsPerSecond": 20}}"#) == .retired(key: "stripe.readsPerSecond"))
        #expect(kind(#"{"notes": {"apiKey": "sk_test_abc"}}"#) == .secret(key: "notes.apiKey"))
        #expect(kind(#"{"stripe": {"concurrency": 4}}"#) == nil)
    }

    @Test func aMissingFileIsItsOwnCase() {
        do {
            _ = try Settings.load(path: "/nonexistent-folder/tollbooth.json")
            Issue.record("a missing file was read")
        } catch {
            #expect(error.kind == .missingFile)
        }
    }
}
