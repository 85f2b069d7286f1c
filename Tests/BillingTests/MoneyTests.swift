import Foundation
import PropertyBased
import Testing
@testable import Billing

@Suite struct MoneyTests {
    @Test func roundsHalfAwayFromZero() {
        // 0.125 is exactly half way: away from zero gives 0.13 and -0.13.
        #expect(d("0.125").rounded(scale: 2) == d("0.13"))
        #expect(d("-0.125").rounded(scale: 2) == d("-0.13"))
        #expect(d("0.124").rounded(scale: 2) == d("0.12"))
        #expect(d("-0.005").rounded(scale: 2) == d("-0.01"))
    }

    @Test func jpyHasNoDecimals() {
        // 1,234.5 JPY rounds to 1,235 and Stripe receives 1235.
        let yen = Money(d("1234.5"), .jpy).rounded
        #expect(yen.amount == 1235)
        #expect(yen.minorUnits == 1235)
        #expect(yen.formatted == "1235")
    }

    @Test func threeDecimalCurrenciesRoundToHundredths() {
        // BHD has 3 minor digits but Stripe needs the last one 0: 1.2345 -> 1.23 -> 1230.
        let bhd = Currency(code: "BHD")!
        #expect(bhd.minorUnits == 3)
        let amount = Money(d("1.2345"), bhd).rounded
        #expect(amount.amount == d("1.23"))
        #expect(amount.minorUnits == 1230)
        #expect(amount.formatted == "1.230")
    }

    @Test func stripeMinorUnitsRoundTrip() {
        #expect(Money(d("12.34"), .usd).minorUnits == 1234)
        #expect(Money(d("-0.07"), .eur).minorUnits == -7)
        #expect(Money(minorUnits: 1234, .usd).amount == d("12.34"))
        #expect(Money(d("12.3"), .usd).formatted == "12.30")
    }

    @Test func currencyTableCoversTheRequiredCodes() {
        let expected = ["USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "CHF": 2, "CAD": 2,
                        "AUD": 2, "INR": 2, "BRL": 2, "BHD": 3]
        for (code, units) in expected { #expect(Currency(code: code)?.minorUnits == units, "\(code)") }
        #expect(Currency(code: "XYZ") == nil)
        #expect(Currency(code: "usd") == nil)
    }

    @Test func decimalTextIsParsedExactly() {
        #expect(Decimal(exactly: "0.0004") == Decimal(4) / Decimal(10_000))
        #expect(Decimal(exactly: "12abc") == nil)
        #expect(Decimal(exactly: "1e3") == nil)
        #expect(Decimal(exactly: "") == nil)
        #expect(Decimal(exactly: "-") == nil)
        #expect(Decimal(exactly: "-3.50")?.plainString == "-3.5")
    }

    @Test func aWholeValueIsGivenOnlyForWholeNumbersThatFit() {
        #expect(Decimal(120).wholeValue == 120)
        #expect(Decimal(sign: .plus, exponent: 2, significand: 12).wholeValue == 1_200)
        #expect(Decimal(-7).wholeValue == -7)
        #expect(Decimal(exactly: "12.000")?.wholeValue == 12)
        #expect(Decimal(Int64.max).wholeValue == Int64.max)
        #expect(Decimal(exactly: "12.5")?.wholeValue == nil)
        #expect((Decimal(Int64.max) + 1).wholeValue == nil)
        #expect(Decimal(sign: .plus, exponent: 30, significand: 1).wholeValue == nil)
        #expect(Decimal.nan.wholeValue == nil)
    }

    @Test func plainTextIsWhatNSDecimalNumberWrites() async {
        for value in [Decimal(0), Decimal(1), Decimal(-1), Decimal(exactly: "0.0004")!, Decimal(exactly: "1000000000000")!,
                      Decimal(exactly: "-12.500")!, Decimal(UInt64.max), Decimal(UInt64.max) * 10 + 7, Decimal(exactly: "0.1")! / 3,
                      Decimal(sign: .plus, exponent: 30, significand: 7), Decimal(sign: .minus, exponent: -30, significand: 7)] {
            #expect(value.plainString == NSDecimalNumber(decimal: value).stringValue)
        }
        await propertyCheck(input: Gen.int(in: -1_000_000_000...1_000_000_000), Gen.int(in: -20...20)) { mantissa, exponent in
            let value = Decimal(sign: mantissa < 0 ? .minus : .plus, exponent: exponent, significand: Decimal(mantissa.magnitude))
            #expect(value.plainString == NSDecimalNumber(decimal: value).stringValue)
        }
        // Around the 18 digits written from an integer, and results of arithmetic as rating makes them.
        for value in [Decimal(999_999_999_999_999_999 as UInt64), Decimal(1_000_000_000_000_000_000 as UInt64),
                      Decimal(exactly: "-99999999.9999999999")!, Decimal(exactly: "0.000000000000000001")!] {
            #expect(value.plainString == NSDecimalNumber(decimal: value).stringValue)
        }
        await propertyCheck(input: Gen.int(in: -99_999_999...99_999_999), Gen.int(in: 1...9_999_999), Gen.int(in: 0...12)) { a, b, scale in
            let product = Decimal(a) * Decimal(b) / Money.power(scale), sum = Decimal(a) / Money.power(scale) + Decimal(b) / 1000
            #expect(product.plainString == NSDecimalNumber(decimal: product).stringValue)
            #expect(sum.plainString == NSDecimalNumber(decimal: sum).stringValue)
        }
    }
}
