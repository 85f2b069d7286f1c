import Foundation
import Testing
import TestSupport

@Suite struct CatalogCommandTests {
    static let sampleItems = [
        "meter api_requests", "meter tokens", "meter upstream_cost",
        "feature api_requests", "feature tokens", "feature upstream_cost", "feature priority_support", "feature sso",
        "plan starter v1", "plan pro v1", "plan enterprise v1",
    ]

    @Test(arguments: Backend.allCases) func importPrintsWhatWasAddedAndAgainIsANoOp(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let first = try cli.run("catalog", "import", fixture("catalogs/sample.json"))
        #expect(first.status == 0, "\(first)")
        #expect(lines(first.stdout) == Self.sampleItems.map { "added \($0)" } + ["11 added, 0 unchanged"])
        #expect(first.stderr == "")

        let second = try cli.run("catalog", "import", fixture("catalogs/sample.json"))
        #expect(second.status == 0, "\(second)")
        #expect(lines(second.stdout) == Self.sampleItems.map { "unchanged \($0)" } + ["0 added, 11 unchanged"])
    }

    @Test(arguments: Backend.allCases) func aChangedPlanWithTheSameVersionIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try #require(try cli.run("catalog", "import", fixture("catalogs/sample.json")).status == 0)
        let sample = try String(contentsOfFile: fixture("catalogs/sample.json"), encoding: .utf8)
        let changed = sample.replacingOccurrences(of: "\"99.00\"", with: "\"109.00\"")
        try #require(changed != sample)
        let file = try cli.write("changed.json", changed)

        let outcome = try cli.run("catalog", "import", file)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == "error: plan pro v1 is already published and differs from the file; a published version is immutable: import it as version 2\n")
    }

    @Test(arguments: Backend.allCases) func aBrokenCatalogListsEveryProblemAndStoresNothing(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let file = fixture("catalogs/broken/several_problems.json")
        let outcome = try cli.run("catalog", "import", file)
        #expect(outcome.status == 2, "\(outcome)")
        let errors = lines(outcome.stderr)
        #expect(errors.first == "error: \(file) has 12 problems:")
        #expect(errors.count == 13)
        #expect(errors.dropFirst().allSatisfy { $0.hasPrefix("  ") })
        #expect(errors.contains("  plan pro v0, currency: unknown currency \"usd\"; write it in upper case, \"USD\""))
        #expect(errors.contains("  plan pro v0, version: must be 1 or more, but is 0"))

        let list = try cli.run("catalog", "list")
        #expect(list.stdout == "PLAN  VERSION  NAME  CURRENCY  CADENCE  PHASES\n\nMETER  EVENT TYPE  AGGREGATION  VALUE\n\nFEATURE  NAME  METER\n")
    }

    @Test(arguments: Backend.allCases) func aMissingFileIsBadInput(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let outcome = try cli.run("catalog", "import", "nowhere.json")
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: file nowhere.json does not exist\n")
    }

    @Test(arguments: Backend.allCases) func listShowsPlansMetersAndFeatures(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try #require(try cli.run("catalog", "import", fixture("catalogs/jpy.json")).status == 0)
        let list = try cli.run("catalog", "list")
        #expect(list.status == 0, "\(list)")
        let table = lines(list.stdout)
        #expect(table.first == "PLAN        VERSION  NAME             CURRENCY  CADENCE  PHASES")
        #expect(table.contains { $0.hasPrefix("starter_jp  1 ") && $0.contains("JPY       P1M") })

        let json = try cli.run("catalog", "list", "--format", "json")
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["plans"] as? [[String: Any]])?.first?["key"] as? String == "starter_jp")
    }
}
