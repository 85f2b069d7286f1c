import ArgumentParser
import Foundation
import Reports
import Showcase

extension BenchCommand {
    struct XLSXRecord: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xlsx-record",
            abstract: "Record the libxlsxwriter calls of `report reconciliation` to a tape, for `bench xlsx-replay` (Benchmarks/xlsx.sh).")

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("The first bill date included (RFC 3339).", valueName: "time"), transform: Time.parse) var from: Time
        @Option(help: ArgumentHelp("The bill date the range stops before (RFC 3339).", valueName: "time"), transform: Time.parse) var to: Time
        @Option(help: ArgumentHelp("The tape to write.", valueName: "file")) var tape: String

        func run() throws {
            let context = try options.context()
            try XLSXBenchmark.record(store: context.store, from: from.instant, to: to.instant, tape: tape)
        }
    }

    struct XLSXReplay: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xlsx-replay",
            abstract: "Write a tape's workbook straight through libxlsxwriter's C API; prints the seconds the writing took.")

        @Option(help: ArgumentHelp("The tape `bench xlsx-record` wrote.", valueName: "file")) var tape: String
        @Option(help: ArgumentHelp("The workbook to write.", valueName: "file")) var out: String

        func run() throws {
            let seconds = try XLSXBenchmark.replay(tape: tape, out: out)
            printOut(String(format: "%.2f", seconds))
        }
    }
}
