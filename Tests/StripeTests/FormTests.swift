import Testing
@testable import Stripe
