import Foundation
import Testing
import TestSupport

@Suite struct SubscriptionCommandTests {
    static var idPattern: Regex<Substring> { /sub_[0-9a-f]{16}/ }

    func create(_ cli: CLI, customer: String, plan: String, at: String) throws -> String {
        let outcome = try cli.run("subscriptions", "create", "--customer", customer, "--plan", plan, "--at", at)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.wholeMatch(of: /sub_[0-9a-f]{16}\n/) != nil, "prints the id only: \(outcome.stdout)")
        return outcome.output
    }

    @Test(arguments: Backend.allCases) func createPrintsTheIdAndASecondSubscriptionIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let id = try create(cli, customer: "acme", plan: "starter", at: "2026-01-01T00:00:00Z")

        let second = try cli.run("subscriptions", "create", "--customer", "acme", "--plan", "pro", "--at", "2026-01-05T00:00:00Z")
        #expect(second.status == 2)
        #expect(second.stdout == "")
        #expect(second.stderr == "error: customer acme already has subscription \(id) (plan starter); a customer holds one subscription at a time: change or cancel it\n")

        let listed = try cli.subscriptions(at: "2026-01-05T00:00:00Z")
        #expect(listed.count == 1)
        let only = try #require(listed.first)
        #expect(only["id"] as? String == id)
        #expect(only["customerKey"] as? String == "acme")
        #expect(only["planKey"] as? String == "starter")
        #expect(only["planVersion"] as? Int == 1)
        #expect(only["anchor"] as? String == "2026-01-01T00:00:00Z")
        #expect(only["start"] as? String == "2026-01-01T00:00:00Z")
        #expect(only["end"] is NSNull)
        #expect(only["status"] as? String == "active")
        #expect(only["pendingChange"] is NSNull)
        #expect(only["pendingCancel"] is NSNull)
        #expect(only["successorId"] is NSNull)
    }

    @Test(arguments: Backend.allCases) func aPlanInAnotherCurrencyIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let outcome = try cli.run("subscriptions", "create", "--customer", "globex", "--plan", "starter", "--at", "2026-01-01T00:00:00Z")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: plan starter v1 is priced in USD but customer globex is billed in EUR: choose a plan in EUR\n")
        #expect(try cli.subscriptions(at: "2026-01-01T00:00:00Z").isEmpty)
    }

    @Test(arguments: Backend.allCases) func upgradeIsImmediateDowngradeWaitsForTheNextCycle(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let starter = try create(cli, customer: "acme", plan: "starter", at: "2026-01-01T00:00:00Z")

        let upgrade = try cli.run("subscriptions", "change", starter, "--plan", "pro", "--timing", "immediate", "--at", "2026-01-10T00:00:00Z")
        #expect(upgrade.status == 0, "\(upgrade)")
        let pro = upgrade.output
        #expect(pro.wholeMatch(of: Self.idPattern) != nil)

        let downgrade = try cli.run("subscriptions", "change", pro, "--plan", "starter", "--at", "2026-01-15T00:00:00Z")
        #expect(downgrade.status == 0, "\(downgrade)")
        let later = downgrade.output

        let listed = try cli.subscriptions(at: "2026-01-16T00:00:00Z")
        #expect(listed.map { $0["id"] as? String } == [starter, pro, later])
        #expect(listed[0]["end"] as? String == "2026-01-10T00:00:00Z")
        #expect(listed[0]["status"] as? String == "inactive")
        #expect(listed[0]["successorId"] as? String == pro)
        #expect(listed[1]["start"] as? String == "2026-01-10T00:00:00Z")
        #expect(listed[1]["anchor"] as? String == "2026-01-01T00:00:00Z")
        #expect(listed[1]["end"] as? String == "2026-02-01T00:00:00Z")
        #expect(listed[1]["successorId"] as? String == later)
        let pending = try #require(listed[1]["pendingChange"] as? [String: Any])
        #expect(pending["id"] as? String == later)
        #expect(pending["planKey"] as? String == "starter")
        #expect(pending["planVersion"] as? Int == 1)
        #expect(pending["at"] as? String == "2026-02-01T00:00:00Z")
        #expect(listed[1]["pendingCancel"] is NSNull)
        #expect(listed[2]["status"] as? String == "scheduled")

        // Once the change has happened it is no longer pending.
        let after = try cli.subscriptions(at: "2026-02-02T00:00:00Z")
        #expect(after[1]["pendingChange"] is NSNull)
        #expect(after[2]["status"] as? String == "active")

        let stale = try cli.run("subscriptions", "change", starter, "--plan", "enterprise", "--at", "2026-01-20T00:00:00Z")
        #expect(stale.status == 2)
        #expect(stale.stderr == "error: subscription \(starter) was changed into \(pro) and is read-only: use \(pro)\n")
        for command in [["cancel", starter], ["reactivate", starter]] {
            let outcome = try cli.run(["subscriptions"] + command + ["--at", "2026-01-20T00:00:00Z"])
            #expect(outcome.status == 2)
            #expect(outcome.stderr.contains("read-only: use \(pro)"))
        }
    }

    @Test(arguments: Backend.allCases) func cancelAtTheNextCycleIsPendingAndReactivateClearsIt(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let id = try create(cli, customer: "initech", plan: "starter", at: "2026-01-01T00:00:00Z")

        let cancel = try cli.run("subscriptions", "cancel", id, "--timing", "next_billing_cycle", "--at", "2026-01-20T00:00:00Z")
        #expect(cancel.status == 0, "\(cancel)")
        #expect(cancel.stdout == "2026-02-01T00:00:00Z\n")
        let canceled = try #require(try cli.subscriptions(at: "2026-01-21T00:00:00Z").first)
        #expect(canceled["pendingCancel"] as? String == "2026-02-01T00:00:00Z")
        #expect(canceled["end"] as? String == "2026-02-01T00:00:00Z")
        #expect(canceled["status"] as? String == "canceled")
        #expect(canceled["pendingChange"] is NSNull)

        let table = try cli.run("subscriptions", "list", "--at", "2026-01-21T00:00:00Z")
        #expect(lines(table.stdout) == [
            "ID                    CUSTOMER  PLAN        STATUS    START                 END                   PENDING",
            "\(id)  initech   starter v1  canceled  2026-01-01T00:00:00Z  2026-02-01T00:00:00Z  cancel at 2026-02-01T00:00:00Z",
        ])

        let reactivate = try cli.run("subscriptions", "reactivate", id, "--at", "2026-01-22T00:00:00Z")
        #expect(reactivate.status == 0, "\(reactivate)")
        #expect(reactivate.stdout == "reactivated \(id)\n")
        let active = try #require(try cli.subscriptions(at: "2026-01-23T00:00:00Z").first)
        #expect(active["pendingCancel"] is NSNull)
        #expect(active["end"] is NSNull)
        #expect(active["status"] as? String == "active")

        let again = try cli.run("subscriptions", "reactivate", id, "--at", "2026-01-23T00:00:00Z")
        #expect(again.status == 2)
        #expect(again.stderr == "error: subscription \(id) has no pending cancellation\n")
    }

    @Test(arguments: Backend.allCases) func immediateCancelPrintsNow(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let id = try create(cli, customer: "acme", plan: "pro", at: "2026-03-01T00:00:00Z")
        let cancel = try cli.run("subscriptions", "cancel", id, "--at", "2026-03-10T12:00:00Z")
        #expect(cancel.stdout == "2026-03-10T12:00:00Z\n", "\(cancel)")
        #expect(try cli.subscriptions(at: "2026-03-11T00:00:00Z").first?["status"] as? String == "inactive")
    }

    @Test(arguments: Backend.allCases) func aBadTimingIsAUsageError(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let outcome = try cli.run("subscriptions", "cancel", "sub_x", "--timing", "tomorrow")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: --timing must be immediate, next_billing_cycle or an RFC 3339 time, not tomorrow\n")
    }

    @Test(arguments: Backend.allCases) func importCreatesEachInOrder(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let file = try cli.write("subscriptions.json", """
            [
              {"customer": "acme", "plan": "starter", "at": "2026-01-01T00:00:00Z"},
              {"customer": "initech", "plan": "pro", "version": 1, "at": "2026-01-15T00:00:00Z", "anchor": "2026-02-01T00:00:00Z"}
            ]
            """)
        let outcome = try cli.run("subscriptions", "import", file)
        #expect(outcome.status == 0, "\(outcome)")
        let ids = lines(outcome.stdout)
        #expect(ids.count == 2)
        let listed = try cli.subscriptions(at: "2026-01-20T00:00:00Z")
        #expect(listed.map { $0["id"] as? String } == ids)
        #expect(listed[1]["start"] as? String == "2026-01-15T00:00:00Z")
        #expect(listed[1]["anchor"] as? String == "2026-02-01T00:00:00Z")
        #expect(listed[1]["planKey"] as? String == "pro")
    }

    @Test(arguments: Backend.allCases) func importIsAllOrNothingAndNamesTheEntry(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try cli.importFixtures()
        let file = try cli.write("subscriptions.json", """
            [
              {"customer": "acme", "plan": "starter", "at": "2026-01-01T00:00:00Z"},
              {"customer": "globex", "plan": "starter", "at": "2026-01-01T00:00:00Z"}
            ]
            """)
        let outcome = try cli.run("subscriptions", "import", file)
        #expect(outcome.status == 2)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == "error: \(file): subscriptions[1] (customer globex): plan starter v1 is priced in USD but customer globex is billed in EUR: choose a plan in EUR\n")
        #expect(try cli.subscriptions(at: "2026-01-02T00:00:00Z").isEmpty)

        let missing = try cli.write("missing.json", #"[{"customer": "acme", "at": "2026-01-01T00:00:00Z"}]"#)
        let incomplete = try cli.run("subscriptions", "import", missing)
        #expect(incomplete.status == 2)
        #expect(incomplete.stderr == "error: \(missing): subscriptions[0].plan is required\n")
    }
}
