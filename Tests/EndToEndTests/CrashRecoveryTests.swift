import Foundation
import Testing

/// A bill run killed (SIGKILL) part-way and run again ends with exactly the invoices of a run
/// that was never interrupted: no duplicate, no gap.
@Suite struct CrashRecoveryTests {
    @Test func aKilledRunRunAgainMakesTheSameInvoices() throws {
        let cli = try CLI()
        // 1,500 customers with a subscription each and a few thousand events.
        let prepared = try cli.run("bench", "prepare", "--folder", cli.folder.path, "--events", "5000", "--subjects", "1500", "--days", "30")
        #expect(prepared.status == 0, "\(prepared)")
        let times = prepared.stdout.split(separator: "\n").map(String.init)
        let bench = cli.folder.appendingPathComponent("bench.db").path
        let ingest = try cli.run("--db", bench, "--at", times[0], "meter", "ingest", cli.folder.appendingPathComponent("events.ndjson").path)
        #expect(ingest.status == 0, "\(ingest)")
        let copy = cli.folder.appendingPathComponent("reference.db").path
        try FileManager.default.copyItem(atPath: bench, toPath: copy)

        // The reference: one uninterrupted run.
        let reference = try cli.run("--db", copy, "run", "--as-of", times[1])
        #expect(reference.status == 0, "\(reference)")

        // Kill runs at several points, then finish.
        var killed = 0
        for delay in [0.3, 0.8, 1.5] {
            let process = Process()
            process.executableURL = try #require(CLI.binary)
            process.arguments = ["--db", bench, "run", "--as-of", times[1]]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { killed += 1 }
        }
        // At least one run was stopped part-way (a later one may find the work already done).
        #expect(killed >= 1)
        let finish = try cli.run("--db", bench, "run", "--as-of", times[1])
        #expect(finish.status == 0, "\(finish)")

        let expected = try cli.run("--db", copy, "invoices", "list", "--format", "json").stdout
        let actual = try cli.run("--db", bench, "invoices", "list", "--format", "json").stdout
        #expect(expected.count > 100)
        #expect(actual == expected)
        // 1,500 subscriptions from Jan 1: the Jan 1 and Feb 1 invoices of each.
        #expect(try cli.run("--db", bench, "invoices", "list", "--format", "csv").stdout.split(separator: "\r\n").count == 1 + 3_000)
    }
}
