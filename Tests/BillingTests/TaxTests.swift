import Foundation
import Testing
@testable import Billing

@Suite struct TaxTests {
    // MARK: Per-line tax

    @Test func inclusiveTaxIsTheAmountLessItsRoundedNet() {
        // 100.00 / 1.19 = 84.0336... -> 84.03; tax = 100.00 - 84.03 = 15.97.
        #expect(LineTax.tax(amount: d("100.00"), rate: d("0.19"), behavior: .inclusive, currency: .eur) == d("15.97"))
    }

    @Test func exclusiveTaxIsTheRoundedProduct() {
        // 0.07 x 0.19 = 0.0133 -> 0.01.
        #expect(LineTax.tax(amount: d("0.07"), rate: d("0.19"), behavior: .exclusive, currency: .eur) == d("0.01"))
        // 119.00 x 0.19 = 22.61 exactly.
        #expect(LineTax.tax(amount: d("119.00"), rate: d("0.19"), behavior: .exclusive, currency: .eur) == d("22.61"))
    }

    @Test func negativeLinesCarryNegativeTax() {
        // -0.14 x 0.19 = -0.0266 -> -0.03 (half away from zero, mirroring 0.14 -> 0.03).
        #expect(LineTax.tax(amount: d("-0.14"), rate: d("0.19"), behavior: .exclusive, currency: .eur) == d("-0.03"))
        #expect(LineTax.tax(amount: d("0.14"), rate: d("0.19"), behavior: .exclusive, currency: .eur) == d("0.03"))
        // -100.00 / 1.19 = -84.0336... -> -84.03; tax = -100.00 - (-84.03) = -15.97.
        #expect(LineTax.tax(amount: d("-100.00"), rate: d("0.19"), behavior: .inclusive, currency: .eur) == d("-15.97"))
    }

    @Test func halfwayTaxRoundsAwayFromZero() {
        // 0.25 x 0.10 = 0.025 -> 0.03; -0.25 x 0.10 = -0.025 -> -0.03.
        #expect(LineTax.tax(amount: d("0.25"), rate: d("0.10"), behavior: .exclusive, currency: .usd) == d("0.03"))
        #expect(LineTax.tax(amount: d("-0.25"), rate: d("0.10"), behavior: .exclusive, currency: .usd) == d("-0.03"))
    }

    @Test func yenTaxRoundsToWholeYen() {
        // Exclusive 10% on 1,234 JPY: 123.4 -> 123.
        #expect(LineTax.tax(amount: d("1234"), rate: d("0.10"), behavior: .exclusive, currency: .jpy) == d("123"))
        // Inclusive 10% on 1,234 JPY: 1,234 / 1.1 = 1,121.818... -> 1,122; tax = 1,234 - 1,122 = 112.
        #expect(LineTax.tax(amount: d("1234"), rate: d("0.10"), behavior: .inclusive, currency: .jpy) == d("112"))
    }

    @Test func threeDecimalCurrencyTaxRoundsToHundredths() {
        // Exclusive 5% on 1.23 BHD: 0.0615 -> 0.06 (billing scale 2, sent to Stripe as 60).
        let bhd = Currency(code: "BHD")!
        #expect(LineTax.tax(amount: d("1.23"), rate: d("0.05"), behavior: .exclusive, currency: bhd) == d("0.06"))
    }

    @Test func zeroRateGivesZeroTax() {
        #expect(LineTax.tax(amount: d("42.00"), rate: 0, behavior: .exclusive, currency: .usd) == 0)
        #expect(LineTax.tax(amount: d("42.00"), rate: 0, behavior: .inclusive, currency: .usd) == 0)
    }

    @Test func aRateThatDividesByZeroFailsInsteadOfGivingNaN() {
        // 1 + (-1) = 0: the inclusive net would be 100.00 / 0.
        #expect(throws: TaxError.self) {
            try LineTax.checkedTax(amount: d("100.00"), rate: d("-1"), behavior: .inclusive, currency: .eur)
        }
        #expect(throws: TaxError.self) {
            try LineTax.checkedTax(amount: Decimal.nan, rate: d("0.19"), behavior: .exclusive, currency: .eur)
        }
    }

    // MARK: Rate table

    let table = TaxRateTable([
        TaxRate(country: "US", rate: d("0.05"), name: "US sales tax"),
        TaxRate(country: "US", state: "CA", rate: d("0.0725"), name: "CA sales tax"),
        TaxRate(country: "DE", rate: d("0.19"), name: "USt"),
    ])

    @Test func theMostSpecificRateWins() {
        // Country and state beat the country alone, in whatever order the rows come.
        #expect(table.rate(country: "US", state: "CA")?.rate == d("0.0725"))
        #expect(TaxRateTable(table.rates.reversed()).rate(country: "US", state: "CA")?.rate == d("0.0725"))
        // A state without a row of its own falls back to the country's row.
        #expect(table.rate(country: "US", state: "TX")?.rate == d("0.05"))
        #expect(table.rate(country: "US", state: nil)?.rate == d("0.05"))
        #expect(table.rate(country: "DE", state: nil)?.name == "USt")
        #expect(table.rate(country: "DE", state: "BY")?.name == "USt")
    }

    @Test func aStateRowNeverMatchesTheWholeCountry() {
        let statesOnly = TaxRateTable([TaxRate(country: "US", state: "CA", rate: d("0.0725"), name: "CA")])
        #expect(statesOnly.rate(country: "US", state: nil) == nil)
        #expect(statesOnly.rate(country: "US", state: "NY") == nil)
    }

    @Test func matchingIgnoresCaseAndSpaces() {
        #expect(table.rate(country: "us", state: "ca")?.rate == d("0.0725"))
        #expect(table.rate(country: " De ", state: nil)?.rate == d("0.19"))
        // An empty state is no state.
        #expect(table.rate(country: "US", state: "")?.rate == d("0.05"))
    }

    @Test func aCustomerNoRateMatchesGetsNone() {
        #expect(table.rate(country: "FR", state: nil) == nil)
        #expect(table.rate(country: "", state: nil) == nil)
    }

    @Test func unusableRatesAreRefusedWhenValidating() throws {
        #expect(throws: TaxError.self) {
            try TaxRateTable(validating: [TaxRate(country: "DE", rate: d("19"), name: "USt")])
        }
        #expect(throws: TaxError.self) {
            try TaxRateTable(validating: [TaxRate(country: "DE", rate: d("-0.19"), name: "USt")])
        }
        #expect(throws: TaxError.self) {
            try TaxRateTable(validating: [TaxRate(country: "de", rate: d("0.19"), name: "a"),
                                          TaxRate(country: "DE", rate: d("0.07"), name: "b")])
        }
        let valid = try TaxRateTable(validating: table.rates)
        #expect(valid == table)
    }

    // MARK: Exemption

    @Test func exemptionReadsStripeValuesAndBooleans() {
        #expect(TaxExemption.fromCustomerJSON("none") == TaxExemption.none)
        #expect(TaxExemption.fromCustomerJSON("exempt") == .exempt)
        #expect(TaxExemption.fromCustomerJSON("reverse") == .reverse)
        #expect(TaxExemption.fromCustomerJSON(true) == .exempt)
        #expect(TaxExemption.fromCustomerJSON(false) == TaxExemption.none)
        #expect(TaxExemption.fromCustomerJSON("true") == .exempt)
        #expect(TaxExemption.fromCustomerJSON("Exempt") == nil)
        #expect(TaxExemption.fromCustomerJSON("yes") == nil)
    }

    // MARK: Decision for a customer

    @Test func aMatchingCustomerIsTaxedAtItsRate() throws {
        let decision = try TaxDecision.decide(exemption: .none, country: "US", state: "CA", table: table, enforced: true)
        #expect(decision == .apply(TaxRate(country: "US", state: "CA", rate: d("0.0725"), name: "CA sales tax")))
        // 200.00 x 0.0725 = 14.50.
        #expect(decision.tax(amount: d("200.00"), behavior: .exclusive, currency: .usd) == d("14.50"))
        #expect(!decision.isReverseCharge)
        #expect(decision.invoiceNote == nil)
    }

    @Test func exemptAndReverseChargeCustomersPayNoTax() throws {
        let exempt = try TaxDecision.decide(exemption: .exempt, country: "DE", state: nil, table: table, enforced: true)
        #expect(exempt == .exempt)
        #expect(exempt.rate == nil)
        #expect(exempt.tax(amount: d("100.00"), behavior: .exclusive, currency: .eur) == 0)
        #expect(exempt.invoiceNote == nil)

        let reverse = try TaxDecision.decide(exemption: .reverse, country: "DE", state: nil, table: table, enforced: true)
        #expect(reverse == .reverseCharge)
        #expect(reverse.tax(amount: d("100.00"), behavior: .inclusive, currency: .eur) == 0)
        #expect(reverse.isReverseCharge)
        #expect(reverse.invoiceNote == "reverse charge")
    }

    @Test func exemptCustomersNeedNoAddressEvenWhenEnforced() throws {
        #expect(try TaxDecision.decide(exemption: .reverse, country: nil, state: nil, table: table, enforced: true) == .reverseCharge)
    }

    @Test func noMatchingRateIssuesWithoutTaxWhenNotEnforced() throws {
        let decision = try TaxDecision.decide(exemption: .none, country: "FR", state: nil, table: table, enforced: false)
        #expect(decision == .noRateMatched(country: "FR", state: nil))
        #expect(decision.tax(amount: d("100.00"), behavior: .exclusive, currency: .eur) == 0)
    }

    @Test func noMatchingRateFailsWhenEnforcedNamingThePlace() {
        #expect {
            try TaxDecision.decide(customerKey: "acme", exemption: .none, country: "fr", state: "idf", table: table, enforced: true)
        } throws: { error in
            guard let error = error as? TaxError, case .noRateMatched(let message) = error else { return false }
            return message == "no tax rate matches customer acme in country FR, state IDF, and tax is enforced: "
                + "add a rate for it to tax.rates, mark the customer taxExempt, or set tax.enforced to false"
        }
        #expect {
            try TaxDecision.decide(customerKey: "acme", exemption: .none, country: nil, state: nil, table: table, enforced: true)
        } throws: { error in
            (error as? TaxError)?.message.contains("customer acme has no billing country") ?? false
        }
    }

    // MARK: Invoice totals

    @Test func totalsAddOnlyExclusiveTax() {
        // Exclusive 100.00 at 19%: tax 19.00. Inclusive 119.00 at 19%: 119.00 / 1.19 = 100.00, tax 19.00.
        // subtotal = 100.00 + 119.00 = 219.00; tax = 19.00 + 19.00 = 38.00;
        // total = 219.00 + 19.00 (exclusive tax only) = 238.00.
        let lines = [
            TaxedLine(amount: d("100.00"), tax: LineTax.tax(amount: d("100.00"), rate: d("0.19"), behavior: .exclusive, currency: .eur), behavior: .exclusive),
            TaxedLine(amount: d("119.00"), tax: LineTax.tax(amount: d("119.00"), rate: d("0.19"), behavior: .inclusive, currency: .eur), behavior: .inclusive),
        ]
        let totals = TaxedAmounts(lines: lines)
        #expect(totals.subtotal == d("219.00"))
        #expect(totals.tax == d("38.00"))
        #expect(totals.total == d("238.00"))
    }

    @Test func totalsAreSumsOfRoundedLines() {
        // Two exclusive 0.07 lines at 19% (0.0133 -> 0.01 each) and a -0.14 credit (-0.0266 -> -0.03):
        // subtotal = 0.07 + 0.07 - 0.14 = 0.00; tax = 0.01 + 0.01 - 0.03 = -0.01; total = 0.00 - 0.01 = -0.01.
        // (Raising the credit's tax so the total is zero is the invoice's rule, not this sum's.)
        let lines = [d("0.07"), d("0.07"), d("-0.14")].map { amount in
            TaxedLine(amount: amount, tax: LineTax.tax(amount: amount, rate: d("0.19"), behavior: .exclusive, currency: .eur), behavior: .exclusive)
        }
        let totals = TaxedAmounts(lines: lines)
        #expect(totals.subtotal == 0)
        #expect(totals.tax == d("-0.01"))
        #expect(totals.total == d("-0.01"))
    }

    @Test func noLinesGiveZeroTotals() {
        #expect(TaxedAmounts(lines: []) == TaxedAmounts(lines: [TaxedLine(amount: 0, tax: 0, behavior: .inclusive)]))
        #expect(TaxedAmounts(lines: []).total == 0)
    }
}
