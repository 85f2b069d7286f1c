import Foundation
import Testing
@testable import Billing

@Suite struct PricingUsageRaterTests {
    let none = Commitments()

    @Test func freeUnitsComeOffBeforeTiersCount() {
        // 2,000 used - 1,000 free = 1,000 billable, all in tier 1: 1000 x 0.10 = 100.00
        // (not 1000 x 0.05 = 50.00, which taking the free units off the first tier would give).
        let tiers = [Tier(upToAmount: d("1000"), unitPrice: d("0.10")), Tier(upToAmount: nil, unitPrice: d("0.05"))]
        let charge = UsageRater.rate(price: .tiered(mode: .graduated, tiers: tiers, commitments: none),
                                     discounts: Discounts(usageQuantity: 1000), quantity: 2000, fraction: .one,
                                     currency: .usd)
        #expect(charge.usage == d("100.00"))
        #expect(charge.total == d("100.00"))
        #expect(charge.explanation.freeUnits == 1000)
        #expect(charge.explanation.billableQuantity == 1000)
        #expect(charge.explanation.tiers.map(\.units) == [1000])
        #expect(charge.explanation.summary == "2,000 used - 1,000 free; tiers: 1,000 x 0.10")
    }

    @Test func freeUnitsBeyondUsageChargeNothing() {
        // max(0, 300 - 1,000) = 0 billable: 0.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: none),
                                     discounts: Discounts(usageQuantity: 1000), quantity: 300,
                                     fraction: TimeFraction(part: 1, whole: 2), currency: .usd)
        #expect(charge.explanation.billableQuantity == 0)
        #expect(charge.total == 0)
    }

    @Test func freeUnitsApplyInFullToAPartialPeriod() {
        // Half a period still gets all 1,000 free units: (1,500 - 1,000) x 0.10 = 50.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: none),
                                     discounts: Discounts(usageQuantity: 1000), quantity: 1500,
                                     fraction: TimeFraction(part: 1, whole: 2), currency: .usd)
        #expect(charge.usage == d("50.00"))
    }

    @Test func unitPriceLine() {
        // 12,345 x 0.002 = 24.69
        let charge = UsageRater.rate(price: .unit(amount: d("0.002"), commitments: none), discounts: Discounts(),
                                     quantity: 12345, fraction: .one, currency: .usd)
        #expect(charge.usage == d("24.69"))
        #expect(charge.discount == 0 && charge.commitment == 0)
        #expect(charge.explanation.unitPrice == d("0.002"))
        #expect(charge.explanation.summary == "12,345 x 0.002")
    }

    @Test func percentageDiscountIsRoundedOnTheRoundedUsage() {
        // U = 12,345 x 0.002 = 24.69; D = -round(24.69 x 10 / 100) = -round(2.469) = -2.47
        let charge = UsageRater.rate(price: .unit(amount: d("0.002"), commitments: none),
                                     discounts: Discounts(percentage: 10), quantity: 12345, fraction: .one,
                                     currency: .usd)
        #expect(charge.usage == d("24.69"))
        #expect(charge.discount == d("-2.47"))
        #expect(charge.total == d("22.22"))
    }

    @Test func minimumCommitmentTopsUp() {
        // U = 3,200 x 0.10 = 320.00; C = max(0, round(500.00 - 320.00)) = 180.00; total 500.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: Commitments(minimumAmount: d("500.00"))),
                                     discounts: Discounts(), quantity: 3200, fraction: .one, currency: .usd)
        #expect(charge.usage == d("320.00"))
        #expect(charge.commitment == d("180.00"))
        #expect(charge.total == d("500.00"))
        #expect(charge.explanation.commitmentSummary(for: charge.commitment) == "minimum 500.00")
    }

    @Test func minimumCommitmentCountsTheDiscount() {
        // U = 4,000 x 0.10 = 400.00; D = -round(400.00 x 20 / 100) = -80.00; U + D = 320.00;
        // C = 500.00 - 320.00 = 180.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: Commitments(minimumAmount: d("500.00"))),
                                     discounts: Discounts(percentage: 20), quantity: 4000, fraction: .one,
                                     currency: .usd)
        #expect(charge.discount == d("-80.00"))
        #expect(charge.commitment == d("180.00"))
    }

    @Test func usageAboveTheMinimumAddsNoCommitment() {
        // U = 6,000 x 0.10 = 600.00 >= 500.00: C = 0
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: Commitments(minimumAmount: d("500.00"))),
                                     discounts: Discounts(), quantity: 6000, fraction: .one, currency: .usd)
        #expect(charge.commitment == 0)
        #expect(charge.explanation.commitmentSummary(for: charge.commitment) == nil)
    }

    @Test func maximumCommitmentCaps() {
        // U = 1,500 x 0.10 = 150.00; C = round(100.00 - 150.00) = -50.00; total 100.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: Commitments(maximumAmount: d("100.00"))),
                                     discounts: Discounts(), quantity: 1500, fraction: .one, currency: .usd)
        #expect(charge.commitment == d("-50.00"))
        #expect(charge.total == d("100.00"))
    }

    @Test func proratedMinimumInAPartialPeriod() {
        // Half a period: U = 1,000 x 0.10 = 100.00; C = max(0, round(500.00 x 1 / 2 - 100.00)) = 150.00
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: Commitments(minimumAmount: d("500.00"))),
                                     discounts: Discounts(), quantity: 1000,
                                     fraction: TimeFraction(part: 1_296_000, whole: 2_592_000), currency: .usd)
        #expect(charge.commitment == d("150.00"))
        #expect(charge.total == d("250.00"))
        #expect(charge.explanation.proratedMinimum == d("250.00"))
        #expect(charge.explanation.commitmentSummary(for: charge.commitment) == "minimum 500.00 x 15/30 days")
    }

    @Test func proratedCapIsNotRoundedOnItsOwn() {
        // Cap 20.01 over half a period = 10.005, unrounded; U = 2,000 x 0.01 = 20.00;
        // C = round(10.005 - 20.00) = round(-9.995) = -10.00 (rounding the cap first, to 10.01,
        // would give -9.99)
        let charge = UsageRater.rate(price: .unit(amount: d("0.01"), commitments: Commitments(maximumAmount: d("20.01"))),
                                     discounts: Discounts(), quantity: 2000, fraction: TimeFraction(part: 1, whole: 2),
                                     currency: .usd)
        #expect(charge.explanation.proratedMaximum == d("10.005"))
        #expect(charge.commitment == d("-10.00"))
        #expect(charge.total == d("10.00"))
    }

    @Test func negativeHalfCentCommitmentRoundsAwayFromZero() {
        // U = 1,000 x 0.01 = 10.00 over a 9.875 cap: C = round(9.875 - 10.00) = round(-0.125) = -0.13
        let charge = UsageRater.rate(price: .unit(amount: d("0.01"), commitments: Commitments(maximumAmount: d("9.875"))),
                                     discounts: Discounts(), quantity: 1000, fraction: .one, currency: .usd)
        #expect(charge.commitment == d("-0.13"))
    }

    @Test func positiveHalfCentUsageRoundsAwayFromZero() {
        // 125 x 0.001 = 0.125 -> 0.13
        let charge = UsageRater.rate(price: .unit(amount: d("0.001"), commitments: none), discounts: Discounts(),
                                     quantity: 125, fraction: .one, currency: .usd)
        #expect(charge.usage == d("0.13"))
        #expect(charge.explanation.unroundedUsage == d("0.125"))
    }

    @Test func yenLinesHaveNoDecimals() {
        // U = 12,345 x 0.5 = 6,172.5 -> 6,173; D = -round(6173 x 10 / 100) = -round(617.3) = -617;
        // minimum 10,000 x 1 / 3 = 3,333.33..., below U + D = 5,556: C = 0
        let charge = UsageRater.rate(price: .unit(amount: d("0.5"), commitments: Commitments(minimumAmount: 10000)),
                                     discounts: Discounts(percentage: 10), quantity: 12345,
                                     fraction: TimeFraction(part: 1, whole: 3), currency: .jpy)
        #expect(charge.usage == 6173)
        #expect(charge.discount == -617)
        #expect(charge.commitment == 0)
        #expect(charge.total == 5556)
        // The same usage against a whole-period 10,000 minimum: C = 10000 - 5556 = 4444
        let topped = UsageRater.rate(price: .unit(amount: d("0.5"), commitments: Commitments(minimumAmount: 10000)),
                                     discounts: Discounts(percentage: 10), quantity: 12345, fraction: .one,
                                     currency: .jpy)
        #expect(topped.commitment == 4444)
    }

    @Test func threeDecimalCurrencyRoundsToHundredths() {
        // 1,234 x 0.0015 = 1.851 BHD -> 1.85 (Stripe needs the third decimal 0)
        let charge = UsageRater.rate(price: .unit(amount: d("0.0015"), commitments: none), discounts: Discounts(),
                                     quantity: 1234, fraction: .one, currency: Currency(code: "BHD")!)
        #expect(charge.usage == d("1.85"))
    }

    @Test func packageLine() {
        // ceil(98 / 20) = 5 x 10.00 = 50.00
        let charge = UsageRater.rate(price: .package(amount: d("10.00"), quantityPerPackage: 20, commitments: none),
                                     discounts: Discounts(), quantity: 98, fraction: .one, currency: .usd)
        #expect(charge.usage == d("50.00"))
        #expect(charge.explanation.packages == 5)
    }

    @Test func dynamicLine() {
        // 10.00 x 1.2 = 12.00
        let charge = UsageRater.rate(price: .dynamic(multiplier: d("1.2"), commitments: none), discounts: Discounts(),
                                     quantity: d("10.00"), fraction: .one, currency: .usd)
        #expect(charge.usage == d("12.00"))
        #expect(charge.explanation.multiplier == d("1.2"))
    }

    @Test func flatPriceIsProratedByTheCharge() {
        // round(29.00 x 109 / 232) = round(13.625) = 13.63; D = -round(13.63 x 10 / 100) = -round(1.363) = -1.36
        let charge = UsageRater.rate(price: .flat(amount: d("29.00"), paymentTerm: .inArrears),
                                     discounts: Discounts(percentage: 10), quantity: 0,
                                     fraction: TimeFraction(part: 109, whole: 232), currency: .usd)
        #expect(charge.usage == d("13.63"))
        #expect(charge.discount == d("-1.36"))
        #expect(charge.explanation.summary == "flat 29.00 x 109/232 s")
        let fee = UsageRater.fee(amount: d("29.00"), discounts: Discounts(percentage: 10),
                                 fraction: TimeFraction(part: 109, whole: 232), currency: .usd)
        #expect(fee.fee == charge.usage && fee.discount == charge.discount)
    }

    @Test func noDiscountIsZeroNotNegativeZero() {
        let charge = UsageRater.rate(price: .unit(amount: d("0.10"), commitments: none),
                                     discounts: Discounts(percentage: 10), quantity: 0, fraction: .one, currency: .usd)
        #expect(charge.discount == 0)
        #expect(Money(charge.discount, .usd).formatted == "0.00")
    }
}
