import Foundation

/// An ISO 4217 currency with the number of decimals it is billed in.
///
/// `minorUnits` is the exponent Stripe uses for integer amounts (USD 2, JPY 0, BHD 3).
/// `billingScale` is the number of decimals a line is rounded to: the same as `minorUnits`
/// except for Stripe's three-decimal currencies, whose last digit Stripe needs to be 0, so
/// they round to hundredths (0.010).
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public let minorUnits: Int
    public let billingScale: Int

    public var description: String { code }

    /// The currency for an ISO 4217 code (upper case), or nil when the code is unknown.
    public init?(code: String) {
        guard let minorUnits = Currency.iso4217[code] else { return nil }
        self.code = code
        self.minorUnits = minorUnits
        self.billingScale = Currency.stripeThreeDecimal.contains(code) ? 2 : minorUnits
    }

    public static let usd = Currency(code: "USD")!
    public static let eur = Currency(code: "EUR")!
    public static let jpy = Currency(code: "JPY")!

    /// Every known code, sorted.
    public static var knownCodes: [String] { iso4217.keys.sorted() }

    static let stripeThreeDecimal: Set<String> = ["BHD", "JOD", "KWD", "OMR", "TND"]

    /// ISO 4217 minor units (exponent) of the currencies Stripe settles.
    static let iso4217: [String: Int] = [
        "AED": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
        "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2,
        "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0,
        "KWD": 3, "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2,
        "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2,
        "TWD": 2, "UAH": 2, "UGX": 0, "USD": 2, "VND": 0, "XAF": 0, "XOF": 0, "ZAR": 2,
    ]
}
