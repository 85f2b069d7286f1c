import Billing
import Foundation
import Metering

/// The built-in sample data of `tollbooth demo`: a catalog, three dozen customers in several
/// countries, their subscriptions over October 2026 (with an upgrade, a downgrade and a
/// cancellation) and a month of usage. Deterministic: the same demo every time.
public enum DemoData {
    public static let month = Period(start: Instant(year: 2026, month: 10, day: 1), end: Instant(year: 2026, month: 11, day: 1))
    /// The demo's bill run: two hours after the month ends, past the collection window.
    public static let asOf = Instant(year: 2026, month: 11, day: 1, hour: 2)

    public static let catalogJSON = """
    {
      "meters": [
        {"slug": "api_requests", "name": "API requests", "eventType": "api.request", "aggregation": "COUNT"},
        {"slug": "llm_tokens", "name": "LLM tokens", "eventType": "llm.completion", "aggregation": "SUM",
         "valueProperty": "$.tokens", "groupBy": {"model": "$.model"}}
      ],
      "features": [
        {"key": "api_requests", "name": "API requests", "meterSlug": "api_requests"},
        {"key": "llm_tokens", "name": "LLM tokens", "meterSlug": "llm_tokens"},
        {"key": "support", "name": "Priority support"}
      ],
      "plans": [
        {"key": "starter", "version": 1, "name": "Starter", "currency": "USD", "billingCadence": "P1M",
         "phases": [{"key": "default", "name": "Starter", "duration": null, "rateCards": [
           {"type": "flat_fee", "key": "base_fee", "name": "Starter monthly fee", "billingCadence": "P1M",
            "price": {"type": "flat", "amount": "29.00", "paymentTerm": "in_advance"}},
           {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
            "billingCadence": "P1M", "price": {"type": "unit", "amount": "0.002"},
            "discounts": {"usage": {"quantity": 10000}},
            "entitlementTemplate": {"type": "metered", "issueAfterReset": 50000, "isSoftLimit": false}}]}]},
        {"key": "pro", "version": 1, "name": "Pro", "currency": "USD", "billingCadence": "P1M",
         "phases": [{"key": "default", "name": "Pro", "duration": null, "rateCards": [
           {"type": "flat_fee", "key": "base_fee", "name": "Pro monthly fee", "billingCadence": "P1M",
            "price": {"type": "flat", "amount": "99.00"}},
           {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
            "billingCadence": "P1M",
            "price": {"type": "tiered", "mode": "graduated", "tiers": [
              {"upToAmount": "10000", "unitPrice": {"type": "unit", "amount": "0.0000"}},
              {"upToAmount": "1000000", "flatPrice": {"type": "flat", "amount": "5.00"}, "unitPrice": {"type": "unit", "amount": "0.0008"}},
              {"unitPrice": {"type": "unit", "amount": "0.0004"}}]},
            "entitlementTemplate": {"type": "metered", "issueAfterReset": 10000, "isSoftLimit": true}},
           {"type": "usage_based", "key": "llm_tokens", "name": "LLM tokens", "featureKey": "llm_tokens",
            "billingCadence": "P1M", "price": {"type": "package", "amount": "2.00", "quantityPerPackage": 1000000}},
           {"type": "flat_fee", "key": "support", "name": "Priority support", "featureKey": "support",
            "billingCadence": null, "price": null, "entitlementTemplate": {"type": "boolean"}}]}]},
        {"key": "enterprise", "version": 1, "name": "Enterprise", "currency": "USD", "billingCadence": "P1M",
         "phases": [{"key": "default", "name": "Enterprise", "duration": null, "rateCards": [
           {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
            "billingCadence": "P1M",
            "price": {"type": "tiered", "mode": "volume", "minimumAmount": "500.00", "tiers": [
              {"upToAmount": "1000000", "unitPrice": {"type": "unit", "amount": "0.0006"}},
              {"unitPrice": {"type": "unit", "amount": "0.0004"}}]},
            "discounts": {"percentage": {"percentage": 10}}},
           {"type": "usage_based", "key": "llm_tokens", "name": "LLM tokens", "featureKey": "llm_tokens",
            "billingCadence": "P1M", "price": {"type": "package", "amount": "1.50", "quantityPerPackage": 1000000}},
           {"type": "flat_fee", "key": "onboarding", "name": "Onboarding", "billingCadence": null,
            "price": {"type": "flat", "amount": "1500.00", "paymentTerm": "in_advance"}}]}]},
        {"key": "team", "version": 1, "name": "Team", "currency": "USD", "billingCadence": "P1M",
         "phases": [
           {"key": "trial", "name": "14-day free trial", "duration": "P14D", "rateCards": [
             {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
              "billingCadence": "P1M", "price": null,
              "entitlementTemplate": {"type": "metered", "issueAfterReset": 20000, "isSoftLimit": false}}]},
           {"key": "default", "name": "Team", "duration": null, "rateCards": [
             {"type": "flat_fee", "key": "base_fee", "name": "Team monthly fee", "billingCadence": "P1M",
              "price": {"type": "flat", "amount": "49.00"}},
             {"type": "usage_based", "key": "api_requests", "name": "API requests", "featureKey": "api_requests",
              "billingCadence": "P1M", "price": {"type": "unit", "amount": "0.001"},
              "entitlementTemplate": {"type": "metered", "issueAfterReset": 200000, "isSoftLimit": true}}]}]}
      ]
    }
    """

    /// The demo's tax table.
    public static let taxRates: [TaxRate] = [
        TaxRate(country: "DE", rate: Decimal(19) / 100, name: "DE VAT"),
        TaxRate(country: "FR", rate: Decimal(20) / 100, name: "FR VAT"),
        TaxRate(country: "NL", rate: Decimal(21) / 100, name: "NL VAT"),
        TaxRate(country: "GB", rate: Decimal(20) / 100, name: "UK VAT"),
        TaxRate(country: "US", state: "CA", rate: Decimal(725) / 10_000, name: "CA sales tax"),
        TaxRate(country: "US", state: "NY", rate: Decimal(4) / 100, name: "NY sales tax"),
        TaxRate(country: "JP", rate: Decimal(10) / 100, name: "JP consumption tax"),
        TaxRate(country: "AU", rate: Decimal(10) / 100, name: "AU GST"),
        TaxRate(country: "CA", rate: Decimal(5) / 100, name: "CA GST"),
    ]

    static let companies = [
        "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Cyberdyne",
        "Soylent", "Tyrell", "Massive", "Oscorp", "Gringotts", "Monarch", "Dunder", "Pied Piper", "Aperture", "Black Mesa",
        "Nakatomi", "Virtucon", "Zorg", "Prestige", "Ollivander", "Sirius", "Abstergo", "Encom", "Kaiba", "Nuka",
        "Blue Sun", "Weyland", "Duff", "Krusty", "Sterling", "Bluth",
    ]

    static let places: [(country: String, state: String?, city: String)] = [
        ("US", "CA", "San Francisco"), ("US", "NY", "New York"), ("DE", nil, "Berlin"), ("FR", nil, "Paris"),
        ("GB", nil, "London"), ("NL", nil, "Amsterdam"), ("JP", nil, "Tokyo"), ("BR", nil, "São Paulo"),
        ("IN", nil, "Bengaluru"), ("CA", "ON", "Toronto"), ("AU", "NSW", "Sydney"), ("US", "TX", "Austin"),
    ]

    /// Three dozen customers in twelve places; one tax-exempt, one reverse charge.
    public static var customers: [Customer] {
        companies.enumerated().map { index, name in
            let place = places[index % places.count]
            let key = name.lowercased().replacingOccurrences(of: " ", with: "_")
            let exemption: TaxExemption = index == 4 ? .exempt : (index == 14 ? .reverse : .none)
            return Customer(key: key, name: "\(name) Inc.", email: "billing@\(key.replacingOccurrences(of: "_", with: "")).example",
                            currency: .usd,
                            billingAddress: Customer.Address(country: place.country, postalCode: "1000\(index % 10)",
                                                             state: place.state, city: place.city, line1: "\(index + 1) Main Street"),
                            taxExempt: exemption,
                            taxIds: exemption == .reverse ? [Customer.TaxID(type: "eu_vat", value: "DE123456789")] : [],
                            subjectKeys: [key], metadata: [:])
        }
    }

    /// The plan each customer starts October on.
    public static func plan(for index: Int) -> String {
        switch index % 6 {
        case 0, 1: return "starter"
        case 2, 3: return "pro"
        case 4: return "team"
        default: return "enterprise"
        }
    }

    /// A plan change or cancellation during the month.
    public enum Event: Sendable {
        case change(customer: String, plan: String, at: Instant)
        case cancel(customer: String, at: Instant)
    }

    /// An upgrade (Acme, Starter -> Pro on Oct 16), a downgrade (Umbrella, Pro -> Starter, at the
    /// next boundary by default: Nov 1) and a cancellation (Cyberdyne, Team, at once on Oct 21).
    public static let events: [Event] = [
        .change(customer: "acme", plan: "pro", at: Instant(year: 2026, month: 10, day: 16)),
        .change(customer: "umbrella", plan: "starter", at: Instant(year: 2026, month: 10, day: 12)),
        .cancel(customer: "hooli", at: Instant(year: 2026, month: 10, day: 21)),
    ]

    /// A deterministic month of usage as CloudEvents NDJSON: request events for every customer
    /// (more for bigger plans) and token events for Pro and Enterprise, spread over the month.
    public static func usage(customers: [Customer], seed: UInt64 = 2026) -> Data {
        var random = SplitMix64(seed: seed)
        var out = [UInt8]()
        out.reserveCapacity(64 << 20)
        let seconds = UInt64(month.seconds)
        for (index, customer) in customers.enumerated() {
            let plan = plan(for: index)
            let requests: UInt64
            switch plan {
            case "enterprise": requests = 30_000 + random.next() % 20_000
            case "pro": requests = 5_000 + random.next() % 15_000
            case "team": requests = 2_000 + random.next() % 4_000
            default: requests = 1_000 + random.next() % 13_000
            }
            for n in 0..<requests {
                let time = Instant(seconds: month.start.seconds + Int64(random.next() % seconds))
                out += Array("{\"specversion\":\"1.0\",\"id\":\"\(customer.key)-r\(n)\",\"source\":\"demo-gateway\",\"type\":\"api.request\",\"subject\":\"\(customer.key)\",\"time\":\"\(time.rfc3339)\",\"data\":{\"path\":\"/v1/search\"}}\n".utf8)
            }
            guard plan == "pro" || plan == "enterprise" else { continue }
            for n in 0..<(100 + random.next() % 100) {
                let time = Instant(seconds: month.start.seconds + Int64(random.next() % seconds))
                let model = ["small", "large"][Int(random.next() % 2)]
                out += Array("{\"specversion\":\"1.0\",\"id\":\"\(customer.key)-t\(n)\",\"source\":\"demo-gateway\",\"type\":\"llm.completion\",\"subject\":\"\(customer.key)\",\"time\":\"\(time.rfc3339)\",\"data\":{\"tokens\":\(1_000 + random.next() % 40_000),\"model\":\"\(model)\"}}\n".utf8)
            }
        }
        return Data(out)
    }
}
