import Foundation
import Testing
@testable import Billing

/// The catalog fixture `name` under Tests/Fixtures/catalogs.
func catalogFixture(_ name: String) throws -> Data {
    try Data(contentsOf: fixturesDirectory.appendingPathComponent("catalogs").appendingPathComponent(name))
}

func readCatalog(_ name: String) throws -> Catalog {
    try CatalogReader.read(catalogFixture(name))
}

@Suite struct CatalogReaderTests {
    @Test func sampleDecodesMetersAndFeatures() throws {
        let catalog = try readCatalog("sample.json")
        #expect(catalog.meters.count == 3)
        #expect(catalog.meter(slug: "api_requests") == Meter(slug: "api_requests", name: "API requests",
                                                             eventType: "api.request", aggregation: .count))
        #expect(catalog.meter(slug: "tokens") == Meter(slug: "tokens", name: "LLM tokens", eventType: "llm.completion",
                                                       aggregation: .sum, valueProperty: "$.tokens",
                                                       groupBy: ["model": "$.model"]))
        #expect(catalog.features.map(\.key) == ["api_requests", "tokens", "upstream_cost", "priority_support", "sso"])
        #expect(catalog.feature(key: "sso")?.meterSlug == nil)
        #expect(catalog.feature(key: "tokens")?.meterSlug == "tokens")
        #expect(CatalogValidator.problems(in: catalog).isEmpty)
    }

    @Test func starterHasAFlatFeeAndAHardLimitWithOverage() throws {
        let starter = try #require(try readCatalog("sample.json").plan(key: "starter"))
        // Defaults applied: version 1, proration on with max_consumption_based, exclusive tax.
        #expect(starter.version == 1)
        #expect(starter.currency == .usd)
        #expect(starter.billingCadence == ISODuration("P1M"))
        #expect(starter.proRating == ProRatingConfig(enabled: true, mode: .maxConsumptionBased))
        #expect(starter.metadata.isEmpty)
        #expect(starter.phases.count == 1)
        let phase = starter.phases[0]
        #expect(phase.duration == nil)
        #expect(!phase.isFreeTrial)
        let fee = phase.rateCards[0]
        #expect(fee == RateCard(type: .flatFee, key: "base_fee", name: "Starter monthly fee",
                                billingCadence: ISODuration("P1M"), price: .flat(amount: d("29.00"), paymentTerm: .inAdvance),
                                taxConfig: TaxConfig(behavior: .exclusive, stripeCode: "txcd_10103001")))
        let requests = phase.rateCards[1]
        #expect(requests.type == .usageBased)
        #expect(requests.featureKey == "api_requests")
        #expect(requests.price == .unit(amount: d("0.002"), commitments: Commitments()))
        #expect(requests.meteredEntitlement == MeteredEntitlement(issueAfterReset: 10_000, isSoftLimit: false, usagePeriod: nil))
    }

    @Test func proHasGraduatedTiersAPackageAndFreeUnits() throws {
        let pro = try #require(try readCatalog("sample.json").plan(key: "pro", version: 1))
        #expect(pro.proRating == ProRatingConfig(enabled: true, mode: .proratePrices))
        #expect(pro.metadata == ["max_payment_overdue_days": "7", "tier": "growth"])
        let cards = pro.phases[0].rateCards
        #expect(cards.map(\.key) == ["base_fee", "api_requests", "tokens", "priority_support"])
        #expect(cards[0].price == .flat(amount: d("99.00"), paymentTerm: .inAdvance))
        #expect(cards[1].price == .tiered(mode: .graduated, tiers: [
            Tier(upToAmount: d("10000"), flatPrice: nil, unitPrice: d("0.001")),
            Tier(upToAmount: d("100000"), flatPrice: d("5.00"), unitPrice: d("0.0008")),
            Tier(upToAmount: nil, flatPrice: nil, unitPrice: d("0.0004")),
        ], commitments: Commitments()))
        #expect(cards[1].discounts == Discounts(percentage: nil, usageQuantity: d("1000")))
        #expect(cards[2].price == .package(amount: d("2.00"), quantityPerPackage: d("1000000"), commitments: Commitments()))
        // A one-time card with no price: free, granting a boolean entitlement.
        #expect(cards[3].type == .flatFee)
        #expect(cards[3].billingCadence == nil)
        #expect(cards[3].price == nil)
        #expect(cards[3].entitlementTemplate == .boolean)
    }

    @Test func enterpriseHasVolumeTiersCommitmentsAndADynamicPrice() throws {
        let enterprise = try #require(try readCatalog("sample.json").plan(key: "enterprise"))
        #expect(enterprise.proRating == ProRatingConfig(enabled: false, mode: .maxConsumptionBased))
        let cards = enterprise.phases[0].rateCards
        #expect(cards[0].price == .tiered(mode: .volume, tiers: [
            Tier(upToAmount: d("1000000"), unitPrice: d("0.0005")),
            Tier(upToAmount: d("10000000"), unitPrice: d("0.0003")),
            Tier(upToAmount: nil, flatPrice: d("100.00"), unitPrice: d("0.0002")),
        ], commitments: Commitments(minimumAmount: d("500.00"), maximumAmount: d("20000.00"))))
        // 12.5 is a JSON number: taken from its text, exactly.
        #expect(cards[0].discounts.percentage == d("12.5"))
        #expect(cards[1].price == .dynamic(multiplier: d("1.25"), commitments: Commitments()))
        #expect(cards[1].taxConfig == TaxConfig(behavior: .inclusive))
        #expect(cards[2].billingCadence == nil)
        #expect(cards[2].price == .flat(amount: d("2500.00"), paymentTerm: .inArrears))
        #expect(cards[3].billingCadence == ISODuration("P1Y"))
        // A static config object is kept as canonical JSON text.
        #expect(cards[4].entitlementTemplate == .static(config: #"{"provider":"okta","seats":50}"#))
    }

    @Test func trialPhaseIsFreeAndEndsBeforeTheOpenEndedPhase() throws {
        let team = try #require(try readCatalog("trial.json").plan(key: "team"))
        #expect(team.version == 2)
        #expect(team.currency == .eur)
        #expect(team.phases.map(\.key) == ["trial", "default"])
        #expect(team.phases[0].duration == ISODuration("P14D"))
        #expect(team.phases[0].duration?.days == 14)
        #expect(team.phases[0].isFreeTrial)
        #expect(team.phases[1].duration == nil)
        #expect(!team.phases[1].isFreeTrial)
        #expect(team.phases[0].rateCards[1].meteredEntitlement?.issueAfterReset == 1000)
        // issueAfterReset written as a decimal string is read the same as a number.
        #expect(team.phases[1].rateCards[1].meteredEntitlement ==
                MeteredEntitlement(issueAfterReset: d("50000"), isSoftLimit: true, usagePeriod: ISODuration("P1M")))
    }

    @Test func jpyPlanKeepsWholeYenAndAStringPercentage() throws {
        let plan = try #require(try readCatalog("jpy.json").plan(key: "starter_jp"))
        #expect(plan.currency == .jpy)
        #expect(plan.currency.minorUnits == 0)
        #expect(plan.phases[0].rateCards[0].price == .flat(amount: d("3000"), paymentTerm: .inAdvance))
        #expect(plan.phases[0].rateCards[0].name == "月額基本料金")
        #expect(plan.phases[0].rateCards[1].price == .unit(amount: d("0.5"), commitments: Commitments(minimumAmount: d("1000"))))
        #expect(plan.phases[0].rateCards[1].discounts.percentage == d("15"))
    }

    @Test(arguments: ["sample.json", "trial.json", "jpy.json"])
    func writerRoundTripsEveryFixture(name: String) throws {
        let catalog = try readCatalog(name)
        let written = CatalogWriter.json(catalog)
        let reread = try CatalogReader.read(written)
        #expect(reread == catalog)
        // Canonical: writing the value read back gives the same bytes.
        #expect(CatalogWriter.json(reread) == written)
        for plan in catalog.plans {
            let planJSON = CatalogWriter.json(plan: plan)
            #expect(try CatalogReader.readPlan(planJSON) == plan)
        }
    }

    @Test func writerSpellsOutMoneyAsStringsAndCountsAsNumbers() throws {
        let pro = try #require(try readCatalog("sample.json").plan(key: "pro"))
        let text = String(decoding: CatalogWriter.json(plan: pro), as: UTF8.self)
        #expect(text.contains(#""amount": "0.0008""#))
        #expect(text.contains(#""upToAmount": "100000""#))
        #expect(text.contains(#""quantityPerPackage": 1000000"#))
        #expect(text.contains(#""quantity": 1000"#))
        #expect(text.contains(#""billingCadence": "P1M""#))
        #expect(text.contains(#""paymentTerm": "in_advance""#))
        #expect(!text.contains("e+"))
    }

    @Test func staticConfigWrittenAsAStringStaysAString() throws {
        let card = RateCard(type: .flatFee, key: "sso", name: "SSO", featureKey: "sso", billingCadence: nil, price: nil,
                            entitlementTemplate: .static(config: #"{ "seats": 5 }"#))
        let plan = Plan(key: "p", name: "P", currency: .usd, billingCadence: ISODuration(months: 1),
                        phases: [Phase(key: "default", name: "Default", rateCards: [card])])
        #expect(try CatalogReader.readPlan(CatalogWriter.json(plan: plan)) == plan)
    }

    @Test func countsAsJSONNumbersAreConvertedExactly() throws {
        // Beyond Double's 15-17 significant digits, and with an exponent.
        #expect(Decimal(jsonNumber: "12345678901234567890123") == d("12345678901234567890123"))
        #expect(Decimal(jsonNumber: "1.5e3") == d("1500"))
        #expect(Decimal(jsonNumber: "25E-2") == d("0.25"))
        #expect(Decimal(jsonNumber: "-0.1") == d("-0.1"))
        #expect(Decimal(jsonNumber: "1e999") == nil)
    }

    @Test func unknownFieldsAreIgnoredAndDefaultsApplied() throws {
        let json = #"""
        {"extra": true,
         "meters": [{"slug": "calls", "eventType": "call", "aggregation": "COUNT", "whatever": [1, 2]}],
         "features": [{"key": "calls", "name": "Calls", "meterSlug": "calls"}],
         "plans": [{"key": "basic", "name": "Basic", "currency": "EUR", "billingCadence": "P1W",
                    "phases": [{"key": "default", "name": "Basic", "rateCards": [
                      {"type": "usage_based", "key": "calls", "name": "Calls", "featureKey": "calls",
                       "billingCadence": "P2W", "price": {"type": "dynamic"}}]}]}]}
        """#
        let catalog = try CatalogReader.read(Data(json.utf8))
        // An unnamed meter takes its slug as its name; a dynamic price without multiplier is x1.
        #expect(catalog.meters[0].name == "calls")
        let plan = try #require(catalog.plan(key: "basic"))
        #expect(plan.version == 1)
        #expect(plan.phases[0].duration == nil)
        #expect(plan.phases[0].rateCards[0].price == .dynamic(multiplier: 1, commitments: Commitments()))
        #expect(plan.phases[0].rateCards[0].taxConfig == TaxConfig())
    }
}
