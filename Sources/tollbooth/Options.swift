import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

/// Options every command takes. Declared once here and included with `@OptionGroup` both at
/// the root and in each command, so they may come before or after the command's name.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The database: a SQLite file, or postgres://USER:PASSWORD@HOST:PORT/DB.",
                                            discussion: "Default: $TOLLBOOTH_DB, else ./tollbooth.db.", valueName: "path|url"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("The file that keeps the Stripe secrets (mode 0600).",
                                            discussion: "Default: $TOLLBOOTH_SECRETS, else DATABASE.secrets.json beside a SQLite database; a PostgreSQL database needs one named.",
                                            valueName: "file"))
    var secrets: String?

    @Option(name: .long, help: ArgumentHelp("The installation settings file.", discussion: "Default: ./tollbooth.json; a missing default file means every default applies.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("RFC 3339 time that stands in for now, to replay any history.", valueName: "time"),
            transform: Time.parse)
    var at: Time?

    var databasePath: String {
        if let db { return db }
        if let env = ProcessInfo.processInfo.environment["TOLLBOOTH_DB"], !env.isEmpty { return env }
        return "./tollbooth.db"
    }

    /// Whether the database is a PostgreSQL one (a URL) rather than a SQLite file.
    var onPostgres: Bool { PostgresLocation.isURL(databasePath) }

    /// Where the Stripe secrets are kept: `--secrets`, else `$TOLLBOOTH_SECRETS`, else beside a
    /// SQLite database; none for a PostgreSQL database without either.
    var secretsFile: SecretsFile {
        if let secrets { return SecretsFile(path: secrets) }
        if let env = ProcessInfo.processInfo.environment["TOLLBOOTH_SECRETS"], !env.isEmpty { return SecretsFile(path: env) }
        return onPostgres ? SecretsFile(path: nil) : SecretsFile(databasePath: databasePath)
    }

    /// "Now": `--at`, else the system clock. Every library takes the instant as a parameter;
    /// only the server's clock and bill-run workers' leases read the system clock themselves.
    var now: Instant {
        if let at { return at.instant }
        return .systemNow
    }

    /// Opens the store after checking the settings, so a broken settings file is reported
    /// by every command, not only by the bill run that would trip over it. Only the imports
    /// (`creatingDatabase`) make a new database: any other command given a path where none
    /// exists (a typo in --db) is refused rather than reporting success on an empty one.
    func context(creatingDatabase: Bool = false) throws -> Context {
        let settings = try Settings.load(path: config)
        if onPostgres {
            let location = try PostgresLocation(url: databasePath)
            do {
                return Context(store: try PostgresStore(location), now: now, settings: settings)
            } catch let error as DatabaseError where error.isMissingDatabase {
                // A PostgreSQL database is made on its server, never by Tollbooth (imports included).
                throw InputError("no database at \(location): check --db or $TOLLBOOTH_DB (make it on the server: createdb \(location.database))")
            } catch let error as DatabaseError {
                // The message names the database (never its password).
                throw CommandFailure("cannot open the database: \(error.message) (check --db or $TOLLBOOTH_DB)")
            }
        }
        if !creatingDatabase, !FileManager.default.fileExists(atPath: databasePath) {
            throw InputError("no database at \(databasePath): check --db or $TOLLBOOTH_DB (`tollbooth catalog import FILE` makes a new one)")
        }
        let store: any Store
        do { store = try SQLiteStore(path: databasePath) } catch let error as DatabaseError {
            throw CommandFailure("cannot open the database \(databasePath): \(error.message) (check --db or $TOLLBOOTH_DB)")
        }
        return Context(store: store, now: now, settings: settings)
    }
}

/// What a command works with: the open store, "now" and the installation settings.
struct Context {
    let store: any Store
    let now: Instant
    let settings: Settings
}

/// An RFC 3339 time argument (`2026-01-31T00:00:00Z`).
struct Time: ExpressibleByArgument, Sendable {
    let instant: Instant

    init(_ instant: Instant) { self.instant = instant }

    init?(argument: String) {
        guard let instant = Instant(rfc3339: argument) else { return nil }
        self.instant = instant
    }

    /// For `@Option(transform:)`: ArgumentParser shows this error's text, where a failed
    /// `init?(argument:)` would only say the value is invalid.
    static func parse(_ text: String) throws -> Time {
        guard let time = Time(argument: text) else {
            throw ValidationError("not an RFC 3339 time: \(text) (write it like 2026-01-31T00:00:00Z)")
        }
        return time
    }

    var defaultValueDescription: String { instant.rfc3339 }
}

/// `--timing immediate|next_billing_cycle|TIME`, shared by `change` and `cancel`.
struct TimingOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("When it takes effect: immediate, next_billing_cycle or an RFC 3339 time.", valueName: "timing"))
    var timing: String?

    var changeTiming: ChangeTiming? { timing.flatMap(ChangeTiming.init) }

    func validate() throws {
        if let timing, ChangeTiming(timing) == nil {
            throw ValidationError("--timing must be immediate, next_billing_cycle or an RFC 3339 time, not \(timing)")
        }
    }
}

/// `--version N`: a plan version, default the latest.
struct PlanVersionOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The plan version (default: the latest).", valueName: "n"))
    var version: Int?

    func validate() throws {
        if let version, version < 1 { throw ValidationError("--version must be 1 or more, not \(version)") }
    }
}

/// `--format table|json`.
enum Format: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// `--format table|json|csv`, for lists a spreadsheet may read.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
    case csv
}

/// Reads a whole input file; the error names it.
func readFile(_ path: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw InputError("file \(path) does not exist")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw InputError("file \(path) cannot be read: check its permissions")
    }
    return data
}
