import Foundation
import Stripe
import Testing

/// The client's pacing against the simulator's test-mode rate limit (a one-second sliding
/// window per account). Counts only: how many calls were refused and made, never how long
/// anything took.
@Suite struct PacingTests {
    /// 60 customer creates, 20 from each of 3 threads sharing one client, each with its own key.
    private func sixtyWritesFromThreeThreads(_ stripe: StripeClient) -> (made: [String], failed: [StripeError]) {
        let made = Collected<String>(), failed = Collected<StripeError>()
        onThreads(3) { thread in
            for index in 0..<20 {
                do throws(StripeError) {
                    let customer = try stripe.createCustomer(CustomerCreate(email: "t\(thread)-\(index)@example.com"),
                                                             idempotencyKey: "pacing-\(thread)-\(index)")
                    made.append(customer.id)
                } catch {
                    failed.append(error)
                }
            }
        }
        return (made.values, failed.values)
    }

    @Test func underTheLimitNoCallIsRefused() throws {
        let sim = try Simulator("--writes-per-second", "25")
        // The client's default: 20 writes a second, a burst of 1.
        let stripe = try sim.client(writesPerSecond: 20)
        let (made, failed) = sixtyWritesFromThreeThreads(stripe)
        #expect(failed.isEmpty, "\(failed.map(\.description))")
        #expect(Set(made).count == 60)
        let posts = try sim.requests(method: "POST", path: "/v1/customers")
        #expect(posts.count == 60, "no call needed a second attempt")
        #expect(posts.filter { $0.status == 429 }.isEmpty)
        #expect(posts.allSatisfy { $0.status == 200 && !$0.replayed })
        #expect(try stripe.listCustomers(CustomerListQuery(page: Page(limit: 100))).data.count == 60)
    }

    @Test func overTheLimitRefusedCallsAreRetriedUntilEveryOneIsMade() throws {
        let sim = try Simulator("--writes-per-second", "25")
        let stripe = try sim.client(writesPerSecond: 60)
        let (made, failed) = sixtyWritesFromThreeThreads(stripe)
        #expect(failed.isEmpty, "\(failed.map(\.description))")
        #expect(Set(made).count == 60)
        let posts = try sim.requests(method: "POST", path: "/v1/customers")
        #expect(posts.contains { $0.status == 429 }, "60 a second against 25: some are refused")
        #expect(posts.filter { $0.status == 200 }.count == 60, "each call made exactly once")
        #expect(posts.allSatisfy { $0.status == 200 || $0.status == 429 })
        #expect(try stripe.listCustomers(CustomerListQuery(page: Page(limit: 100))).data.count == 60, "a refused call made nothing")
    }
}
