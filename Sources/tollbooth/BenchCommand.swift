import ArgumentParser
import Billing
import Foundation
import Pipeline
import Showcase

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Prepare the benchmarks: ingest and bill run (Benchmarks/run.sh), issuing (Benchmarks/issue.sh).",
        shouldDisplay: false,
        subcommands: [Prepare.self, PrepareIssue.self, XLSXRecord.self, XLSXReplay.self])
}

extension BenchCommand {
    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write FOLDER/events.ndjson and FOLDER/bench.db (a customer and subscription per subject).",
            discussion: "Prints the --at for `meter ingest` and the --as-of for `run` on two lines.")

        @Option(help: ArgumentHelp("Folder for the files.", valueName: "folder")) var folder: String
        @Option(help: "Events to generate (1% are duplicates).") var events = 2_000_000
        @Option(help: "Distinct subjects, each a customer with a subscription.") var subjects = 10_000
        @Option(help: "Days the events span.") var days = 30
        @Option(help: ArgumentHelp("An empty PostgreSQL database to prepare instead of FOLDER/bench.db.", valueName: "url"))
        var postgres: String?

        func validate() throws {
            guard events > 0, subjects > 0, (1...31).contains(days) else {
                throw ValidationError("--events and --subjects must be positive and --days 1 to 31")
            }
        }

        func run() throws {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let times = try Benchmark.prepare(folder: folder, events: events, subjects: subjects, days: days, postgres: postgres)
            printOut(times.ingestAt.rfc3339)
            printOut(times.asOf.rfc3339)
        }
    }

    struct PrepareIssue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare-issue",
            abstract: "Write a database whose bill run makes N invoices of L lines each, to issue to Stripe.",
            discussion: "Prints the --as-of of the run that makes them.")

        @Option(help: ArgumentHelp("The database to write: a SQLite file (replaced) or an empty PostgreSQL database's URL.", valueName: "path"))
        var path: String
        @Option(help: "Invoices (one customer each).") var invoices = 1_000
        @Option(help: "Lines per invoice (1 to 250).") var lines = 5

        func validate() throws {
            guard invoices > 0, (1...250).contains(lines) else { throw ValidationError("--invoices must be positive and --lines 1 to 250") }
        }

        func run() throws {
            printOut(try IssueBenchmark.prepare(path: path, invoices: invoices, lines: lines).rfc3339)
        }
    }
}
