/// What a charge to a card does.
enum ChargeOutcome: Sendable, Equatable {
    case succeeds
    /// Declined with Stripe's `decline_code` and message.
    case declined(declineCode: String, message: String)
    /// 3-D Secure is required: the invoice stays open and waits for the customer.
    case requiresAction
}

/// Stripe's test cards, by the `pm_card_...` token that stands for each.
struct TestCard: Sendable, Equatable {
    var token: String
    var brand: String
    var last4: String
    var outcome: ChargeOutcome
    /// Declined by the card check Stripe makes when the card is attached (0002, 9995), so it is
    /// never saved; 0341 passes the check and declines only when charged.
    var declinesOnAttach: Bool {
        guard case .declined = outcome else { return false }
        return token != "pm_card_chargeCustomerFail"
    }

    static let all: [TestCard] = [
        TestCard(token: "pm_card_visa", brand: "visa", last4: "4242", outcome: .succeeds),
        TestCard(token: "pm_card_mastercard", brand: "mastercard", last4: "4444", outcome: .succeeds),
        TestCard(token: "pm_card_chargeCustomerFail", brand: "visa", last4: "0341",
                 outcome: .declined(declineCode: "generic_decline", message: "Your card was declined.")),
        TestCard(token: "pm_card_chargeDeclined", brand: "visa", last4: "0002",
                 outcome: .declined(declineCode: "generic_decline", message: "Your card was declined.")),
        TestCard(token: "pm_card_visa_chargeDeclinedInsufficientFunds", brand: "visa", last4: "9995",
                 outcome: .declined(declineCode: "insufficient_funds", message: "Your card has insufficient funds.")),
        TestCard(token: "pm_card_authenticationRequired", brand: "visa", last4: "3220", outcome: .requiresAction),
    ]

    static func named(_ token: String) -> TestCard? { all.first { $0.token == token } }

    static var tokens: String { all.map(\.token).joined(separator: ", ") }
}

/// Stripe's minimum charge per currency, in minor units. An invoice whose amount due is above
/// zero and below it is marked paid without a charge, and the amount is carried on the
/// customer's balance to the next invoice.
enum MinimumCharge {
    static let table: [String: Int64] = [
        "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
        "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
        "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
    ]

    /// The minimum for `currency`; currencies outside the table use 50 minor units.
    static func amount(_ currency: String) -> Int64 { table[currency] ?? 50 }
}

/// Divides with rounding half away from zero, as every amount the simulator derives is rounded.
func divideRounded(_ numerator: Int64, _ denominator: Int64) -> Int64 {
    precondition(denominator > 0)
    let quotient = numerator / denominator, remainder = numerator % denominator
    if abs(remainder) * 2 >= denominator { return quotient + (numerator < 0 ? -1 : 1) }
    return quotient
}

/// A decimal percentage ("8.875") as an exact fraction: numerator / (100 x 10^scale).
struct Percentage: Sendable, Equatable {
    var text: String
    var numerator: Int64
    var denominator: Int64

    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0]), whole >= 0, whole <= 100 else { return nil }
        var scale: Int64 = 1, fraction: Int64 = 0
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 6, let digits = Int64(parts[1]), digits >= 0 else { return nil }
            for _ in 0..<parts[1].count { scale *= 10 }
            fraction = digits
        }
        self.text = text
        numerator = whole * scale + fraction
        denominator = 100 * scale
    }

    /// Tax on top of `amount`: round(amount x rate).
    func exclusiveTax(on amount: Int64) -> Int64 { divideRounded(amount * numerator, denominator) }

    /// Tax inside `amount`: amount - round(amount / (1 + rate)).
    func inclusiveTax(in amount: Int64) -> Int64 {
        amount - divideRounded(amount * denominator, denominator + numerator)
    }
}
