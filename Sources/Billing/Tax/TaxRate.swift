import Foundation

/// One row of the installation's `tax.rates`: a rate for a country, or for one state of it.
public struct TaxRate: Hashable, Sendable {
    /// ISO 3166-1 alpha-2 ("DE", "US").
    public var country: String
    /// A subdivision of the country ("CA"); nil = the whole country.
    public var state: String?
    /// A fraction, not a percentage: "0.19" for 19%.
    public var rate: Decimal
    /// Shown on the invoice ("VAT", "CA sales tax").
    public var name: String

    public init(country: String, state: String? = nil, rate: Decimal, name: String) {
        self.country = country
        self.state = state
        self.rate = rate
        self.name = name
    }

    /// Why this row cannot be used, or nil when it can. A rate must be a number from 0 to 1:
    /// a rate of -1 would divide inclusive amounts by zero, and a rate written as a percentage
    /// ("19") is the likeliest typo.
    public var problem: String? {
        let place = state.map { "\(country)/\($0)" } ?? country
        if rate.isNaN { return "tax rate \(name) for \(place) is not a number" }
        if rate < 0 || rate > 1 {
            return "tax rate \(name) for \(place) is \(rate.plainString); write it as a fraction from 0 to 1 (\"0.19\" for 19%)"
        }
        if TaxRateTable.normalized(country) == nil {
            return "tax rate \(name) has no country; give an ISO 3166-1 alpha-2 code such as \"DE\""
        }
        return nil
    }
}

/// The installation's local rate table (`tax.provider: rates`).
///
/// Matching ignores case and surrounding spaces, and an empty state counts as no state,
/// because customer addresses arrive as typed. The most specific row wins: country and
/// state over country alone. A row with a state never matches a customer without one.
public struct TaxRateTable: Hashable, Sendable {
    public let rates: [TaxRate]

    public init(_ rates: [TaxRate]) {
        self.rates = rates
    }

    /// A table whose every row is usable; the error names the first row that is not, or the
    /// second row for a place that already has one (which would make the rate depend on the
    /// order of the settings file).
    public init(validating rates: [TaxRate]) throws(TaxError) {
        var seen: Set<String> = []
        for rate in rates {
            if let problem = rate.problem { throw TaxError.invalidRate(problem) }
            let key = "\(TaxRateTable.normalized(rate.country) ?? "")/\(TaxRateTable.normalized(rate.state) ?? "")"
            guard seen.insert(key).inserted else {
                let place = rate.state.map { "\(rate.country)/\($0)" } ?? rate.country
                throw TaxError.invalidRate("two tax rates for \(place); keep one")
            }
        }
        self.rates = rates
    }

    /// The rate for a billing address, or nil when no row matches. When the table holds two
    /// rows for one place (only possible without `init(validating:)`), the first wins.
    public func rate(country: String, state: String?) -> TaxRate? {
        guard let country = TaxRateTable.normalized(country) else { return nil }
        let inCountry = rates.filter { TaxRateTable.normalized($0.country) == country }
        if let state = TaxRateTable.normalized(state),
           let exact = inCountry.first(where: { TaxRateTable.normalized($0.state) == state }) {
            return exact
        }
        return inCountry.first { TaxRateTable.normalized($0.state) == nil }
    }

    /// Upper-cased and trimmed; nil when nothing is left.
    static func normalized(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingCharacters(in: .whitespacesAndNewlines), !trimmed.isEmpty else { return nil }
        return trimmed.uppercased()
    }
}
