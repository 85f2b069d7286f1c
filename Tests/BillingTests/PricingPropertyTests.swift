import Foundation
import PropertyBased
import Testing
@testable import Billing

/// Cents as a decimal: 1234 -> 12.34 (built from integers, never a binary float).
private func cents(_ value: Int) -> Decimal { Decimal(value) / 100 }

@Suite struct PricingPropertyTests {
    @Test func graduatedAndVolumeAgreeWithOneTier() async {
        await propertyCheck(input: Gen.int(in: 0...100_000), Gen.int(in: 0...10_000), Gen.int(in: 0...10_000)) {
            quantity, unitMills, flatCents in
            let tiers = [Tier(upToAmount: nil, flatPrice: cents(flatCents), unitPrice: Decimal(unitMills) / 1000)]
            let graduated = GraduatedTieredPricer(tiers: tiers).price(Decimal(quantity)).amount
            let volume = VolumeTieredPricer(tiers: tiers).price(Decimal(quantity)).amount
            #expect(graduated == volume)
        }
    }

    @Test func graduatedAmountNeverFallsAsUsageGrows() async {
        await propertyCheck(input: Gen.int(in: 0...200_000), Gen.int(in: 0...200_000)) { a, b in
            // Tenths of a unit, so fractional quantities cross the bounds too.
            let low = Decimal(min(a, b)) / 10, high = Decimal(max(a, b)) / 10
            let pricer = GraduatedTieredPricer(tiers: graduatedWithFlats)
            #expect(pricer.price(low).amount <= pricer.price(high).amount)
        }
    }

    @Test func packageAmountIsCeilingOfPackagesTimesAmount() async {
        await propertyCheck(input: Gen.int(in: 0...100_000), Gen.int(in: 1...500), Gen.int(in: 0...100_000)) {
            quantity, size, amountCents in
            let expectedPackages = (quantity + size - 1) / size
            let priced = PackagePricer(amount: cents(amountCents), quantityPerPackage: Decimal(size))
                .price(Decimal(quantity))
            #expect(priced.amount == Decimal(expectedPackages) * cents(amountCents))
        }
    }

    @Test func chargeStaysWithinTheProratedCommitments() async {
        await propertyCheck(
            input: Gen.int(in: 0...50_000), Gen.int(in: 0...100), Gen.int(in: 0...100_000), Gen.int(in: 0...100_000),
            Gen.int(in: 0...2_592_000), Gen.int(in: 1...2_592_000)
        ) { quantity, percentage, minimumCents, spanCents, rawPart, whole in
            let fraction = TimeFraction(part: Int64(min(rawPart, whole)), whole: Int64(whole))
            let minimum = cents(minimumCents), maximum = cents(minimumCents + spanCents)
            let price = Price.unit(amount: d("0.013"),
                                   commitments: Commitments(minimumAmount: minimum, maximumAmount: maximum))
            let charge = UsageRater.rate(price: price, discounts: Discounts(percentage: Decimal(percentage)),
                                         quantity: Decimal(quantity), fraction: fraction, currency: .usd)
            #expect(charge.total >= fraction.apply(minimum).rounded(scale: 2))
            #expect(charge.total <= fraction.apply(maximum).rounded(scale: 2))
        }
    }
}
