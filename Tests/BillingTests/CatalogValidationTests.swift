import Foundation
import Testing
@testable import Billing

/// The problem descriptions reading a fixture under catalogs/broken gives, in order.
func brokenCatalogProblems(_ name: String) throws -> [String] {
    let data = try catalogFixture("broken/\(name).json")
    do {
        _ = try CatalogReader.read(data)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

@Suite struct CatalogValidationTests {
    static let usageCard = "plan pro v1, phase default, rate card api_requests"
    static let feeCard = "plan pro v1, phase default, rate card base_fee"

    /// One broken fixture per rule, each refused with exactly one problem.
    static let brokenFixtures: [(String, String)] = [
        ("unknown_meter",
         #"feature api_requests, meterSlug: no meter has the slug "requests"; add the meter or correct the slug"#),
        ("unknown_feature",
         #"\#(usageCard), featureKey: no feature has the key "api_calls"; add the feature or correct the key"#),
        ("bad_key",
         #"plan Pro-Plan v1, key: "Pro-Plan" is not a valid key; use lower-case letters a-z, digits and single underscores between them (such as "pro_plan"), at most 64 characters"#),
        ("tiers_out_of_order",
         #"\#(usageCard), price.tiers[1].upToAmount: 500 must be greater than the bound of tiers[0], 1000; list the tiers in increasing order"#),
        ("last_tier_bound",
         #"\#(usageCard), price.tiers[1].upToAmount: must be left out on the last tier, which holds every quantity above 1000; remove "5000" or add a tier after it"#),
        ("usage_without_cadence",
         #"\#(usageCard), billingCadence: is required on a usage_based rate card; use the plan's P1M"#),
        ("negative_amount",
         #"\#(feeCard), price.amount: must not be negative, but is -99"#),
        ("unknown_currency",
         #"plan pro v1, currency: unknown currency "XYZ"; use an ISO 4217 code such as USD, EUR or JPY"#),
        ("open_phase_not_last",
         #"plan pro v1, phase trial, duration: only the last phase may be open-ended (duration null); give this phase a duration such as P14D"#),
        ("money_as_number",
         #"\#(usageCard), price.amount: must be a decimal string such as "0.0004", not a JSON number: write "0.0004""#),
        ("bad_duration",
         #"plan pro v1, billingCadence: "1 month" is not an ISO 8601 duration; use one such as P1D, P1W, P2W, P1M, P3M or P1Y"#),
        ("percentage_over_100",
         #"\#(usageCard), discounts.percentage.percentage: must be between 0 and 100 (10 means 10% off), but is 150"#),
        ("minimum_over_maximum",
         #"\#(usageCard), price.minimumAmount: 500 is greater than maximumAmount 400; the minimum charge must not exceed the maximum"#),
        ("duplicate_rate_card",
         #"\#(feeCard), key: "base_fee" is also the key of rateCards[0] of this phase; each rate card needs its own key"#),
        ("cadence_not_multiple",
         #"\#(usageCard), billingCadence: P1W is not a whole multiple of the plan's billingCadence P1M; use P1M or a whole multiple of it"#),
        ("usage_discount_on_flat_fee",
         #"\#(feeCard), discounts.usage: a flat_fee rate card has no usage to make free; remove the usage discount or make the rate card usage_based"#),
        ("missing_value_property",
         #"meter api_requests, valueProperty: is required for a SUM meter: name the value to aggregate, such as "$.tokens""#),
        ("unmetered_usage_price",
         #"\#(usageCard), featureKey: feature "api_requests" has no meterSlug, but its usage price needs usage to price; give the feature a meter"#),
        ("not_json",
         #"catalog: not valid JSON at line 4, column 21: expected a field name in double quotes"#),
    ]

    @Test(arguments: brokenFixtures)
    func brokenCatalogIsRefusedWithItsProblem(name: String, expected: String) throws {
        #expect(try brokenCatalogProblems(name) == [expected])
    }

    @Test func everyProblemIsListedInFileOrder() throws {
        let card = "plan pro v0, phase default, rate card api_requests"
        #expect(try brokenCatalogProblems("several_problems") == [
            #"meter api_requests, valueProperty: "tokens" must be a JSONPath into the event's data, starting with "$." (such as "$.tokens")"#,
            #"feature API Calls, key: "API Calls" is not a valid key; use lower-case letters a-z, digits and single underscores between them (such as "api_calls"), at most 64 characters"#,
            #"plan pro v0, currency: unknown currency "usd"; write it in upper case, "USD""#,
            "plan pro v0, version: must be 1 or more, but is 0",
            #"plan pro v0, phase default, rate card base_fee, price.amount: must be a decimal string such as "0.0004", not a JSON number: write "99""#,
            #"\#(card), featureKey: no feature has the key "api_calls"; add the feature or correct the key"#,
            "\(card), billingCadence: is required on a usage_based rate card; use the plan's P1M",
            "\(card), price.tiers[0].upToAmount: must not be negative, but is -10",
            "\(card), price.tiers[1].upToAmount: is required on every tier but the last",
            "\(card), price.tiers[1]: needs a flatPrice, a unitPrice or both",
            #"\#(card), price.tiers[2].upToAmount: must be left out on the last tier, which holds every quantity above -10; remove "100" or add a tier after it"#,
            "\(card), price.minimumAmount: must not be negative, but is -1",
        ])
    }

    @Test func errorDescriptionListsOneProblemPerLine() throws {
        let error = CatalogError(problems: [
            CatalogProblem(location: "plan pro v1, currency", message: "unknown currency \"XYZ\""),
            CatalogProblem(location: "meter tokens, valueProperty", message: "is required"),
        ])
        #expect(error.description == """
            The catalog has 2 problems:
            plan pro v1, currency: unknown currency "XYZ"
            meter tokens, valueProperty: is required
            """)
    }

    @Test func aMissingFieldIsReportedOnceNotAlsoAsTheRuleItBreaks() throws {
        // No key: "is required", not also "is not a valid key"; the record is named by position.
        let json = #"{"features": [{"name": "Calls"}], "plans": [{"key": "p", "name": "P", "currency": "USD", "phases": []}]}"#
        #expect(throws: CatalogError.self) { try CatalogReader.read(Data(json.utf8)) }
        do {
            _ = try CatalogReader.read(Data(json.utf8))
        } catch {
            #expect(error.problems.map(\.description) == [
                "features[0], key: is required",
                "plan p v1, billingCadence: is required",
                "plan p v1, phases: must have at least one phase",
            ])
        }
    }

    @Test func wrongJSONTypesAreNamed() throws {
        let json = #"""
        {"meters": {}, "plans": [{"key": "p", "version": "2", "name": "P", "currency": "USD",
          "billingCadence": "P1M", "proRatingConfig": {"enabled": "yes"},
          "phases": [{"key": "default", "name": "D", "rateCards": [
            {"type": "usage_based", "key": "c", "name": "C", "billingCadence": "P1M",
             "price": {"type": "tiered", "mode": "stepped", "tiers": [{"unitPrice": {"type": "flat", "amount": "1"}}]}},
            {"type": "flat_fee", "key": "e", "name": "E", "billingCadence": "P1M", "price": null,
             "entitlementTemplate": {"type": "static", "config": 5}}]}]}]}
        """#
        do {
            _ = try CatalogReader.read(Data(json.utf8))
            Issue.record("a catalog with wrong types was accepted")
        } catch {
            #expect(error.problems.map(\.description) == [
                "catalog, meters: must be an array, not an object",
                "plan p v1, version: must be a whole number such as 1, not a string",
                "plan p v1, proRatingConfig.enabled: must be true or false, not a string",
                #"plan p v1, phase default, rate card c, price.mode: "stepped" is not allowed; use one of graduated, volume"#,
                #"plan p v1, phase default, rate card c, price.tiers[0].unitPrice.type: must be "unit" in unitPrice, not "flat""#,
                "plan p v1, phase default, rate card c, featureKey: is required: its usage price needs usage to price; name a feature that has a meterSlug",
                "plan p v1, phase default, rate card e, entitlementTemplate.config: must be a JSON object or a string holding JSON, not a number",
                "plan p v1, phase default, rate card e, featureKey: is required with an entitlementTemplate: name the feature it grants",
            ])
        }
    }

    @Test func keyPattern() {
        #expect(CatalogValidator.isValidKey("api_requests"))
        #expect(CatalogValidator.isValidKey("v2"))
        #expect(CatalogValidator.isValidKey(String(repeating: "a", count: 64)))
        #expect(!CatalogValidator.isValidKey(String(repeating: "a", count: 65)))
        #expect(!CatalogValidator.isValidKey(""))
        #expect(!CatalogValidator.isValidKey("_api"))
        #expect(!CatalogValidator.isValidKey("api_"))
        #expect(!CatalogValidator.isValidKey("api__requests"))
        #expect(!CatalogValidator.isValidKey("api-requests"))
        #expect(!CatalogValidator.isValidKey("Api"))
    }

    @Test func rateCardCadenceMustBeAWholeMultipleOfThePlans() throws {
        func multiple(_ card: String, _ plan: String) throws -> Bool {
            CatalogValidator.isWholeMultiple(try #require(ISODuration(card)), of: try #require(ISODuration(plan)))
        }
        #expect(try multiple("P1M", "P1M"))
        #expect(try multiple("P3M", "P1M"))
        #expect(try multiple("P1Y", "P1M"))
        #expect(try multiple("P1Y", "P3M"))
        #expect(try multiple("P1W", "P1D"))
        #expect(try multiple("P2W", "P1W"))
        #expect(try !multiple("P1W", "P1M"))
        #expect(try !multiple("P1M", "P1W"))
        #expect(try !multiple("P1M", "P3M"))
        #expect(try !multiple("P1W", "P2W"))
        #expect(try !multiple("P1M", "P30D"))
    }

    @Test func lonePlanChecksSkipReferences() {
        // A stored plan has no features around it: an unknown feature is not its problem.
        let plan = Plan(key: "p", name: "P", currency: .usd, billingCadence: ISODuration(months: 1), phases: [
            Phase(key: "default", name: "D", rateCards: [
                RateCard(type: .usageBased, key: "c", name: "C", featureKey: "nowhere",
                         billingCadence: ISODuration(months: 1), price: .unit(amount: d("-1"), commitments: Commitments())),
            ]),
        ])
        #expect(CatalogValidator.problems(in: plan).map(\.description) == [
            "plan p v1, phase default, rate card c, price.amount: must not be negative, but is -1",
        ])
    }

    @Test func duplicatesAcrossTheCatalog() {
        let catalog = Catalog(
            meters: [Meter(slug: "m", name: "M", eventType: "e", aggregation: .count),
                     Meter(slug: "m", name: "M2", eventType: "e", aggregation: .count)],
            features: [Feature(key: "f", name: "F"), Feature(key: "f", name: "F2")],
            plans: [
                Plan(key: "p", name: "P", currency: .usd, billingCadence: ISODuration(months: 1),
                     phases: [Phase(key: "a", name: "A", duration: ISODuration(days: 7), rateCards: []),
                              Phase(key: "a", name: "A", rateCards: [])]),
                Plan(key: "p", name: "P", currency: .usd, billingCadence: ISODuration(months: 1),
                     phases: [Phase(key: "a", name: "A", rateCards: [])]),
            ])
        #expect(CatalogValidator.problems(in: catalog).map(\.description) == [
            #"meter m, slug: "m" is also the slug of meters[0]; each meter needs its own slug"#,
            #"feature f, key: "f" is also the key of features[0]; each feature needs its own key"#,
            #"plan p v1, phase a, key: "a" is also the key of phases[0] of this plan; each phase needs its own key"#,
            #"plan p v1, version: plan "p" version 1 is also plans[0]; give each version its own number"#,
        ])
    }

    @Test func meteredEntitlementNeedsAMeteredFeature() throws {
        let catalog = Catalog(features: [Feature(key: "sso", name: "SSO")], plans: [
            Plan(key: "p", name: "P", currency: .usd, billingCadence: ISODuration(months: 1), phases: [
                Phase(key: "default", name: "D", rateCards: [
                    RateCard(type: .flatFee, key: "sso", name: "SSO", featureKey: "sso", billingCadence: nil, price: nil,
                             entitlementTemplate: .metered(MeteredEntitlement(issueAfterReset: 5))),
                    RateCard(type: .flatFee, key: "seats", name: "Seats", billingCadence: nil, price: nil,
                             entitlementTemplate: .boolean),
                ]),
            ]),
        ])
        #expect(CatalogValidator.problems(in: catalog).map(\.description) == [
            #"plan p v1, phase default, rate card sso, featureKey: feature "sso" has no meterSlug, but a metered entitlement needs usage to count; give the feature a meter"#,
            "plan p v1, phase default, rate card seats, featureKey: is required with an entitlementTemplate: name the feature it grants",
        ])
    }
}
