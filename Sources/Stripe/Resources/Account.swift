import Foundation

/// The Stripe account a key belongs to: what `stripe connect` shows and keeps.
public struct Account: StripeObject, Hashable {
    public struct BusinessProfile: Hashable, Sendable, Decodable {
        public var name: String?
        public var url: String?
    }

    public struct Settings: Hashable, Sendable, Decodable {
        public struct Dashboard: Hashable, Sendable, Decodable {
            public var displayName: String?
        }

        public var dashboard: Dashboard?
    }

    public var id: String
    public var country: String?
    public var defaultCurrency: String?
    public var email: String?
    public var chargesEnabled: Bool?
    public var payoutsEnabled: Bool?
    public var detailsSubmitted: Bool?
    public var businessProfile: BusinessProfile?
    public var settings: Settings?

    /// The name the Dashboard shows, else the business name.
    public var displayName: String? { settings?.dashboard?.displayName ?? businessProfile?.name }
}

extension StripeClient {
    /// GET /v1/account: the account of the key; the call `stripe connect` verifies a key with.
    public func retrieveAccount() throws(StripeError) -> Account {
        try call(.get, "/v1/account")
    }
}
