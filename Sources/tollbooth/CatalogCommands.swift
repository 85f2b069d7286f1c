import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Import and list meters, features and plans.",
        subcommands: [Import.self, List.self])
}

extension CatalogCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish the meters, features and plans of a catalog file.",
            discussion: """
                The file is one JSONValue object {"meters": [...], "features": [...], "plans": [...]} \
                with OpenMeter's v1 field names. A published plan version is immutable: importing \
                it again unchanged does nothing, and a changed plan with the same key and version \
                is refused (publish it as a new version). The file is checked as a whole and \
                every problem is listed; nothing is stored unless all of it can be.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The catalog JSON file.", valueName: "file")) var file: String

        func run() throws {
            let context = try options.context(creatingDatabase: true)
            let catalog: Catalog
            do { catalog = try CatalogReader.read(try readFile(file)) } catch let error as CatalogError {
                throw ProblemList(file: file, error)
            }
            let result = try context.store.importCatalog(catalog, at: context.now)
            for item in result.added { printOut("added \(item)") }
            for item in result.unchanged { printOut("unchanged \(item)") }
            printOut("\(result.added.count) added, \(result.unchanged.count) unchanged")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the published plans (every version), meters and features.",
            discussion: "--format json prints the catalog in the import format, so it can be imported elsewhere.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Output format.") var format: Format = .table

        func run() throws {
            let catalog = try options.context().store.catalog()
            switch format {
            case .json:
                writeOut(String(decoding: CatalogWriter.json(catalog), as: UTF8.self) + "\n")
            case .table:
                printOut(CatalogCommand.tables(catalog))
            }
        }
    }

    static func tables(_ catalog: Catalog) -> String {
        var plans = Table("PLAN", "VERSION", "NAME", "CURRENCY", "CADENCE", "PHASES")
        for plan in catalog.plans {
            let phases = plan.phases.map { phase in
                let length = phase.duration.map { " \($0.text)" } ?? ""
                let trial = phase.isFreeTrial ? " free" : ""
                return "\(phase.key)\(length)\(trial) (\(phase.rateCards.map(\.key).joined(separator: ", ")))"
            }
            plans.append([plan.key, String(plan.version), plan.name, plan.currency.code, plan.billingCadence.text,
                          phases.joined(separator: "; ")])
        }
        var meters = Table("METER", "EVENT TYPE", "AGGREGATION", "VALUE")
        for meter in catalog.meters {
            meters.append([meter.slug, meter.eventType, meter.aggregation.rawValue, meter.valueProperty ?? ""])
        }
        var features = Table("FEATURE", "NAME", "METER")
        for feature in catalog.features {
            features.append([feature.key, feature.name, feature.meterSlug ?? ""])
        }
        return [plans.rendered, meters.rendered, features.rendered].joined(separator: "\n\n")
    }
}
