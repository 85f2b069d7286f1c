import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store
import Stripe

/// Bad input the user can fix (a file, an argument, a record that does not exist): exit 2.
struct InputError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A file with several problems, each printed on its own line: exit 2.
struct ProblemList: Error, CustomStringConvertible {
    let title: String
    let problems: [String]

    init(file: String, _ error: CatalogError) {
        let count = error.problems.count == 1 ? "1 problem" : "\(error.problems.count) problems"
        title = "\(file) has \(count):"
        problems = error.problems.map(\.description)
    }

    var description: String { ([title] + problems).joined(separator: "\n") }
}

/// The command could not do its work for a reason other than its input: exit 1.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The one place that turns an error into what the user sees and the exit status
/// (DESIGN.md: 0 success, 1 failure, 2 bad usage or input). Every message is one line on
/// stderr, except a file's problem list, which gives each problem its own line.
enum ErrorReport {
    static let usage: Int32 = 2
    static let failure: Int32 = 1
    /// Another bill run holds the lock (EX_TEMPFAIL): cron may simply try again.
    static let locked: Int32 = 75

    /// The lines to print and the exit status for `error`; nil for errors ArgumentParser owns
    /// (help, parse errors), which `Tollbooth.main` hands to it.
    static func report(_ error: any Error) -> (lines: [String], status: Int32)? {
        switch error {
        case let error as ProblemList:
            return (["error: " + error.title] + error.problems.map { "  " + $0 }, usage)
        case let error as CatalogError:
            return (["error: " + (error.problems.count == 1 ? "1 problem:" : "\(error.problems.count) problems:")]
                    + error.problems.map { "  \($0.description)" }, usage)
        case let error as InputError:
            return (["error: " + error.message], usage)
        case let error as StoreInputError:
            return (["error: " + error.message], usage)
        case let error as SettingsError:
            return (["error: settings: " + error.message], usage)
        case let error as TaxError:
            return (["error: " + error.message], usage)
        case let error as DatabaseError:
            if error.isBusy {
                return (["error: the database is busy: another tollbooth process is writing to it; try again when it is done"], failure)
            }
            return (["error: " + oneLine(error.description)], failure)
        case let error as RunLockedError:
            return (["error: " + error.description], locked)
        case let error as CommandFailure:
            return (["error: " + error.message], failure)
        case let error as StripeError:
            // A Stripe call that failed after its retries; its text is already free of secrets.
            return (["error: " + oneLine(error.description)], failure)
        case let error as BillRunError:
            return (["error: " + error.description], usage)
        case let error as SimulationError:
            return (["error: " + error.description], usage)
        case let error as SchemaVersionError:
            return (["error: " + error.description], failure)
        case let error as VoidRefusal:
            return (["error: " + error.description], usage)
        case let error as StripeSetupError:
            return (["error: " + oneLine(error.message)], error.isInput ? usage : failure)
        default:
            return nil
        }
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
