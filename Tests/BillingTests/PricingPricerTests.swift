import Foundation
import Testing
@testable import Billing

/// Tiers with flat prices: (0, 1,000] 0.00 + 5.00 flat, (1,000, 10,000] 0.002 + 10.00 flat, then 0.001.
let graduatedWithFlats = [
    Tier(upToAmount: d("1000"), flatPrice: d("5.00"), unitPrice: d("0")),
    Tier(upToAmount: d("10000"), flatPrice: d("10.00"), unitPrice: d("0.002")),
    Tier(upToAmount: nil, unitPrice: d("0.001")),
]

/// Volume tiers: (0, 1,000] 0.01 + 2.00 flat, (1,000, 10,000] 0.005 + 5.00 flat, then 0.002.
let volumeWithFlats = [
    Tier(upToAmount: d("1000"), flatPrice: d("2.00"), unitPrice: d("0.01")),
    Tier(upToAmount: d("10000"), flatPrice: d("5.00"), unitPrice: d("0.005")),
    Tier(upToAmount: nil, unitPrice: d("0.002")),
]

@Suite struct PricingPricerTests {
    @Test func graduatedPricesEachTierWithItsFlatPrice() {
        // 5.00 + 1000 x 0.00 + 10.00 + 9000 x 0.002 + 500 x 0.001 = 5.00 + 10.00 + 18.00 + 0.50 = 33.50
        let priced = GraduatedTieredPricer(tiers: graduatedWithFlats).price(d("10500"))
        #expect(priced.amount == d("33.50"))
        guard case .tiered(.graduated, _, let tiers) = priced.detail else { Issue.record("not tiered"); return }
        #expect(tiers.map(\.number) == [1, 2, 3])
        #expect(tiers.map(\.units) == [d("1000"), d("9000"), d("500")])
        #expect(tiers.map(\.amount) == [d("5.00"), d("28.00"), d("0.50")])
        #expect(tiers[1].lowerBound == d("1000") && tiers[1].upperBound == d("10000"))
        #expect(tiers[2].upperBound == nil)
    }

    @Test func graduatedZeroUsageChargesNoFlatPrice() {
        // No unit falls in any tier, so tier 1's 5.00 flat price is not charged: 0.00.
        let priced = GraduatedTieredPricer(tiers: graduatedWithFlats).price(0)
        #expect(priced.amount == 0)
        #expect(UsageRater.rate(price: .tiered(mode: .graduated, tiers: graduatedWithFlats, commitments: Commitments()),
                                discounts: Discounts(), quantity: 0, fraction: .one, currency: .usd).total == 0)
    }

    @Test func graduatedQuantityOnATierBoundStaysInThatTier() {
        // A tier holds (previous bound, upToAmount]: 1,000 is all tier 1: 5.00 + 1000 x 0.00 = 5.00
        #expect(GraduatedTieredPricer(tiers: graduatedWithFlats).price(d("1000")).amount == d("5.00"))
        // 1,000.5 reaches tier 2: 5.00 + 10.00 + 0.5 x 0.002 = 15.001
        #expect(GraduatedTieredPricer(tiers: graduatedWithFlats).price(d("1000.5")).amount == d("15.001"))
    }

    @Test func volumePricesEveryUnitInTheTierHoldingTheTotal() {
        // 2,500 is in tier 2: 2500 x 0.005 + 5.00 = 12.50 + 5.00 = 17.50
        let priced = VolumeTieredPricer(tiers: volumeWithFlats).price(d("2500"))
        #expect(priced.amount == d("17.50"))
        guard case .tiered(.volume, _, let tiers) = priced.detail else { Issue.record("not tiered"); return }
        #expect(tiers.count == 1)
        #expect(tiers[0].number == 2 && tiers[0].units == d("2500") && tiers[0].lowerBound == d("1000"))
        // 20,000 is in the open last tier: 20000 x 0.002 = 40.00
        #expect(VolumeTieredPricer(tiers: volumeWithFlats).price(d("20000")).amount == d("40.00"))
    }

    @Test func volumeZeroUsageChargesNothing() {
        // Tier 1's 2.00 flat price is not charged without usage: 0.00
        #expect(VolumeTieredPricer(tiers: volumeWithFlats).price(0).amount == 0)
    }

    @Test func volumeQuantityOnATierBound() {
        // 1,000 is in tier 1: 1000 x 0.01 + 2.00 = 12.00
        #expect(VolumeTieredPricer(tiers: volumeWithFlats).price(d("1000")).amount == d("12.00"))
        // 1,000.5 is in tier 2: 1000.5 x 0.005 + 5.00 = 5.0025 + 5.00 = 10.0025
        #expect(VolumeTieredPricer(tiers: volumeWithFlats).price(d("1000.5")).amount == d("10.0025"))
    }

    @Test func tiersBeyondTheLastBoundFallInTheLastTier() {
        // A catalog whose last tier kept a bound (1,000): 1,500 -> 100 x 0.10 + 1400 x 0.05 = 10.00 + 70.00
        // = 80.00 (graduated) and 1500 x 0.05 = 75.00 (volume); no unit goes unpriced.
        let bounded = [Tier(upToAmount: d("100"), unitPrice: d("0.10")), Tier(upToAmount: d("1000"), unitPrice: d("0.05"))]
        #expect(GraduatedTieredPricer(tiers: bounded).price(d("1500")).amount == d("80.00"))
        #expect(VolumeTieredPricer(tiers: bounded).price(d("1500")).amount == d("75.00"))
    }

    @Test func packageRoundsStartedPackagesUp() {
        // ceil(98 / 20) = 5 packages x 10.00 = 50.00
        let priced = PackagePricer(amount: d("10.00"), quantityPerPackage: 20).price(98)
        #expect(priced.amount == d("50.00"))
        #expect(priced.detail == .package(quantity: 98, quantityPerPackage: 20, packages: 5, packageAmount: d("10.00")))
        // 100 / 20 = 5 exactly -> 50.00; 100.5 starts a 6th -> 60.00
        #expect(PackagePricer(amount: d("10.00"), quantityPerPackage: 20).price(100).amount == d("50.00"))
        #expect(PackagePricer(amount: d("10.00"), quantityPerPackage: 20).price(d("100.5")).amount == d("60.00"))
    }

    @Test func packageZeroUsageChargesNothing() {
        // ceil(0 / 20) = 0 packages = 0.00
        #expect(PackagePricer(amount: d("10.00"), quantityPerPackage: 20).price(0).amount == 0)
    }

    @Test func packageCountIsExactForNonTerminatingQuotients() {
        // 1 / 3 does not terminate; ceil is 1 package, and 3 / 3 is exactly 1 package, never 2.
        #expect(PackagePricer(amount: 1, quantityPerPackage: 3).packages(for: 1) == 1)
        #expect(PackagePricer(amount: 1, quantityPerPackage: d("0.3")).packages(for: d("0.9")) == 3)
        #expect(PackagePricer(amount: 1, quantityPerPackage: d("0.3")).packages(for: d("0.9000001")) == 4)
    }

    @Test func unitPriceTimesQuantity() {
        // 12,345 x 0.002 = 24.69
        let priced = UnitPricer(unitPrice: d("0.002")).price(12345)
        #expect(priced.amount == d("24.69"))
        #expect(priced.summary(in: .usd) == "12,345 x 0.002")
    }

    @Test func dynamicMultipliesTheMeteredMoney() {
        // 10.00 x 1.2 = 12.00
        #expect(DynamicPricer(multiplier: d("1.2")).price(d("10.00")).amount == d("12.00"))
    }

    @Test func flatIgnoresQuantity() {
        #expect(FlatPricer(amount: d("29.00")).price(12345).amount == d("29.00"))
    }

    @Test func pricersNeverRoundAndLinesRoundHalfAwayFromZero() {
        // 125 x 0.001 = 0.125 exactly; the line rounds it to 0.13
        let up = UnitPricer(unitPrice: d("0.001")).price(125).amount
        #expect(up == d("0.125"))
        #expect(up.rounded(scale: 2) == d("0.13"))
        // -0.125 x 1 = -0.125 exactly; rounds away from zero to -0.13
        let down = DynamicPricer(multiplier: 1).price(d("-0.125")).amount
        #expect(down == d("-0.125"))
        #expect(down.rounded(scale: 2) == d("-0.13"))
    }

    @Test func priceModelPicksItsPricer() {
        let none = Commitments()
        #expect(Price.flat(amount: 1, paymentTerm: .inAdvance).pricer is FlatPricer)
        #expect(Price.unit(amount: 1, commitments: none).pricer is UnitPricer)
        #expect(Price.tiered(mode: .graduated, tiers: [], commitments: none).pricer is GraduatedTieredPricer)
        #expect(Price.tiered(mode: .volume, tiers: [], commitments: none).pricer is VolumeTieredPricer)
        #expect(Price.package(amount: 1, quantityPerPackage: 1, commitments: none).pricer is PackagePricer)
        #expect(Price.dynamic(multiplier: 1, commitments: none).pricer is DynamicPricer)
    }

    @Test func summariesUseThousandsSeparatorsAndCurrencyDecimals() {
        let tiers = [Tier(upToAmount: d("1000"), unitPrice: d("0.10")), Tier(upToAmount: nil, unitPrice: d("0.05"))]
        #expect(GraduatedTieredPricer(tiers: tiers).price(d("2000")).summary(in: .usd)
            == "tiers: 1,000 x 0.10 + 1,000 x 0.05")
        #expect(GraduatedTieredPricer(tiers: graduatedWithFlats).price(d("1000.5")).summary(in: .usd)
            == "tiers: 1,000 x 0.00 + 5.00 flat + 0.5 x 0.002 + 10.00 flat")
        #expect(VolumeTieredPricer(tiers: volumeWithFlats).price(d("2500")).summary(in: .usd)
            == "volume tier 2: 2,500 x 0.005 + 5.00 flat")
        #expect(PackagePricer(amount: d("10"), quantityPerPackage: 20).price(98).summary(in: .usd)
            == "98 units = 5 x 20-unit package x 10.00")
        #expect(DynamicPricer(multiplier: d("1.2")).price(d("1234567.5")).summary(in: .usd) == "1,234,567.50 x 1.2")
        #expect(UnitPricer(unitPrice: d("3")).price(d("-1234")).summary(in: .jpy) == "-1,234 x 3")
        #expect(PriceText.grouped(d("123")) == "123")
        #expect(PriceText.grouped(d("123456")) == "123,456")
    }
}
