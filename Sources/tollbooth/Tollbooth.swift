import ArgumentParser
import Foundation
import Logging

/// The `tollbooth` command: parses arguments, calls the library modules and maps their errors
/// to an exit status. It holds no billing logic of its own.
@main
struct Tollbooth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tollbooth",
        abstract: "Usage-based billing for APIs: catalog, customers, subscriptions, metering and the bill run.",
        discussion: """
            TIME is RFC 3339 (2026-01-31T00:00:00Z). --at stands in for "now", so any history \
            can be replayed. Exit status: 0 success, 1 failure, 2 bad usage or input, 75 when another \
            bill run holds the lock.
            """,
        // One entry per command group, one file each (CatalogCommands.swift, ...).
        subcommands: [
            CatalogCommand.self,
            CustomersCommand.self,
            SubscriptionsCommand.self,
            InvoicesCommand.self,
            AdjustmentsCommand.self,
            MeterCommand.self,
            RunCommand.self,
            RerunCommand.self,
            ReportCommand.self,
            SimulateCommand.self,
            StripeCommand.self,
            ServeCommand.self,
            TokensCommand.self,
            DemoCommand.self,
            BenchCommand.self,
        ])

    @OptionGroup var options: GlobalOptions

    /// `$TOLLBOOTH_LOG_LEVEL` (trace ... critical), else `fallback`.
    static func logLevel(default fallback: Logger.Level) -> Logger.Level {
        ProcessInfo.processInfo.environment["TOLLBOOTH_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? fallback
    }

    /// Runs the command and reports any error in one place (see `ErrorReport`).
    static func main() async {
        // Structured logs go to stderr; $TOLLBOOTH_LOG_LEVEL (trace ... critical) sets how many,
        // default warning, so an interactive run shows only its summary and progress lines.
        let level = Tollbooth.logLevel(default: .warning)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exitForArgumentParser(error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            guard let report = ErrorReport.report(error) else { exitForArgumentParser(error) }
            report.lines.forEach(printError)
            Foundation.exit(report.status)
        }
    }

    /// Help goes to stdout with status 0; a usage error is one line on stderr with status 2
    /// (ArgumentParser's own 64 is not in DESIGN.md's list); anything else is a failure.
    static func exitForArgumentParser(_ error: any Error) -> Never {
        let code = exitCode(for: error)
        if code == .success {
            printOut(fullMessage(for: error))
            Foundation.exit(0)
        }
        var message = message(for: error)
        if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
        printError("error: " + ErrorReport.oneLine(message))
        Foundation.exit(code == .validationFailure ? ErrorReport.usage : ErrorReport.failure)
    }
}
