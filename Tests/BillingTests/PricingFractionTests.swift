import Foundation
import Testing
@testable import Billing

@Suite struct PricingFractionTests {
    @Test func timeFractionMultipliesBeforeDividing() {
        // 29.00 x 109 / 232 = 3161 / 232 = 13.625 exactly; 109 / 232 first would be truncated.
        let fraction = TimeFraction(part: 109, whole: 232)
        #expect(fraction.apply(d("29.00")) == d("13.625"))
        #expect(fraction.apply(d("29.00")).rounded(scale: 2) == d("13.63"))
    }

    @Test func proratedFeeRoundsTheExactHalfUp() {
        // fee = round(29.00 x 109 / 232) = round(13.625) = 13.63, not 13.62.
        let charged = UsageRater.fee(amount: d("29.00"), discounts: Discounts(),
                                     fraction: TimeFraction(part: 109, whole: 232), currency: .usd)
        #expect(charged.fee == d("13.63"))
        #expect(charged.discount == 0)
    }

    @Test func wholeFractionLeavesTheAmountAlone() {
        #expect(TimeFraction.one.isWhole)
        #expect(TimeFraction(part: 2_678_400, whole: 2_678_400).isWhole)
        #expect(!TimeFraction(part: 1, whole: 2).isWhole)
        #expect(TimeFraction.one.apply(d("12.345")) == d("12.345"))
    }

    @Test func timeFractionsCompareByValue() {
        #expect(TimeFraction(part: 1, whole: 2) == TimeFraction(part: 3600, whole: 7200))
        #expect(TimeFraction(part: 1, whole: 2).hashValue == TimeFraction(part: 3600, whole: 7200).hashValue)
        #expect(TimeFraction(part: 1, whole: 3) < TimeFraction(part: 1, whole: 2))
        #expect(TimeFraction(part: 1, whole: 4).remainder == TimeFraction(part: 3, whole: 4))
    }

    @Test func timeFractionsCompareExactlyWhereBinaryFloatsWouldNot() {
        // 3602879701896397 / 2^55 is the 64-bit binary float nearest 0.1, so as binary floats the two
        // quotients are equal; cross-multiplied, 1 x 2^55 = 36028797018963968 is less than
        // 3602879701896397 x 10 = 36028797018963970, so 1/10 is the smaller.
        let tenth = TimeFraction(part: 1, whole: 10)
        let nearTenth = TimeFraction(part: 3_602_879_701_896_397, whole: 36_028_797_018_963_968)
        #expect(tenth < nearTenth)
        #expect(tenth != nearTenth)
        #expect(max(tenth, nearTenth) == nearTenth)
    }

    @Test func quotaFractionComparesExactlyWithTimeFraction() throws {
        // 1/3 of the quota used against 0.3333333333333333 of the period: the same binary float
        // (0.3333333333333333 is how the 64-bit float nearest 1/3 prints), but 1 x 1 > 0.3333333333333333 x 3.
        let quotaUsed = try #require(Fraction(d("1"), over: d("3")))
        let elapsed = try #require(Fraction(d("0.3333333333333333"), over: d("1")))
        #expect(elapsed < quotaUsed)
        #expect(max(elapsed, quotaUsed) == quotaUsed)
        // 1,234.5 of 10,000 units used vs 1,234 of 10,000 seconds: 1234.5 x 10000 > 1234 x 10000.
        let used = try #require(Fraction(d("1234.5"), over: d("10000")))
        #expect(TimeFraction(part: 1234, whole: 10_000).fraction < used)
    }

    @Test func consumedFractionCapsAtOneAndCreditsTheRest() throws {
        // 12,000 used of a 10,000 quota consumes the whole period: nothing left to credit.
        let over = try #require(Fraction(d("12000"), over: d("10000")))
        #expect(over.cappedAtOne == Fraction.one)
        #expect(over.remainder == Fraction.zero)
        // max(elapsed 1/4, used 2,500.5/10,000) = 0.25005; credit 100.00 x 0.74995 = 74.995 -> 75.00.
        let used = try #require(Fraction(d("2500.5"), over: d("10000")))
        let consumed = max(TimeFraction(part: 1, whole: 4).fraction, used).cappedAtOne
        #expect(consumed == used)
        #expect(consumed.remainder.apply(d("100.00")) == d("74.995"))
        let credit = UsageRater.fee(amount: d("100.00"), discounts: Discounts(), fraction: consumed.remainder,
                                    currency: .usd)
        #expect(credit.fee == d("75.00"))
    }

    @Test func quotaOfZeroHasNoFraction() {
        #expect(Fraction(d("5"), over: 0) == nil)
        #expect(Fraction(d("5"), over: d("-1")) == nil)
    }
}
