import ArgumentParser
import Billing
import Foundation
import Metering
import Pipeline
import Store

struct MeterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meter",
        abstract: "Meter usage events.",
        subcommands: [Ingest.self])
}

extension MeterCommand {
    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ingest CloudEvents NDJSON from a file or standard input (-).",
            discussion: """
                Every line is accepted, a duplicate (its (source, id) was ingested before) or \
                rejected: quarantined with its line number and reason, never lost. Prints the three \
                counts; exits 2 if any line was rejected, after storing every accepted one. Events \
                in a period already closed are stored and billed as late usage on the next invoice.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("An NDJSON file, or - for standard input.", valueName: "file")) var file: String

        func run() throws {
            let context = try options.context()
            let descriptor: Int32
            if file == "-" {
                descriptor = FileHandle.standardInput.fileDescriptor
            } else {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
                    throw InputError("file \(file) does not exist")
                }
                descriptor = open(file, O_RDONLY)
                guard descriptor >= 0 else { throw InputError("file \(file) cannot be read: check its permissions") }
            }
            defer { if file != "-" { close(descriptor) } }
            let ingestor = try Ingestor(store: context.store, now: context.now, dedupeRetention: context.settings.dedupeRetention)
            let failpoints = Failpoints()
            ingestor.beforeTransaction = { failpoints.hit("ingest.transaction") }
            let clock = ContinuousClock()
            let started = clock.now
            ingestor.progress = { summary in
                guard summary.lines > 0 else { return }
                let seconds = max(0.001, Self.seconds(clock.now - started))
                printError("ingested \(summary.lines) lines, \(Int(Double(summary.lines) / seconds)) events/s")
            }
            let summary = try ingestor.ingest(descriptor: descriptor, input: file == "-" ? "stdin" : file)
            printOut("accepted \(summary.accepted), duplicate \(summary.duplicates), rejected \(summary.rejected)"
                     + (summary.late > 0 ? " (\(summary.late) late, billed on the next invoice)" : ""))
            guard summary.rejected > 0 else { return }
            for rejection in summary.rejections.prefix(20) {
                printError("error: \(file == "-" ? "stdin" : file) line \(rejection.line): \(rejection.reason)")
            }
            if summary.rejected > 20 { printError("error: ... and \(summary.rejected - 20) more rejected lines, all quarantined") }
            throw ExitCode(ErrorReport.usage)
        }

        /// Seconds as a floating-point number, for a progress rate only (never money).
        static func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
    }
}
