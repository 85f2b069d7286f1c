import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct SubscriptionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "Subscribe customers to plans, change plans, cancel and reactivate.",
        discussion: """
            A customer holds one subscription at a time. A plan change ends the subscription \
            and starts a new one (its successor) with the same billing anchor; the ended one is \
            read-only.
            """,
        subcommands: [Create.self, Change.self, Cancel.self, Reactivate.self, List.self, Import.self])
}

extension SubscriptionsCommand {
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Subscribe a customer to a plan from now (--at); prints the new subscription's id.",
            discussion: """
                Billing periods step from --anchor when given (the first period is then the \
                partial one up to the next anchor boundary), else from the start. The plan must \
                be in the customer's currency.
                """)

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("The customer's key.", valueName: "key")) var customer: String
        @Option(help: ArgumentHelp("The plan's key.", valueName: "key")) var plan: String
        @OptionGroup var version: PlanVersionOption
        @Option(help: ArgumentHelp("RFC 3339 billing anchor (default: the start).", valueName: "time"), transform: Time.parse)
        var anchor: Time?

        func run() throws {
            let context = try options.context()
            let subscription = try context.store.createSubscription(
                customerKey: customer, planKey: plan, version: version.version, anchor: anchor?.instant,
                start: nil, now: context.now)
            printOut(subscription.id)
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a subscription's plan; prints the new subscription's id.",
            discussion: """
                Default timing: an upgrade (the new plan's recurring in-advance fees are at least \
                as high) takes effect at once, a downgrade at the next billing boundary. Usage up \
                to the change is billed on the old plan; unused in-advance fees come back as a \
                proration credit on the next invoice.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The subscription's id.", valueName: "id")) var id: String
        @Option(help: ArgumentHelp("The new plan's key.", valueName: "key")) var plan: String
        @OptionGroup var version: PlanVersionOption
        @OptionGroup var timing: TimingOption

        func run() throws {
            let context = try options.context()
            let successor = try context.store.changeSubscription(
                id: id, planKey: plan, version: version.version, timing: timing.changeTiming, now: context.now)
            printOut(successor.id)
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a subscription; prints the RFC 3339 time access ends.",
            discussion: """
                Default timing: immediate (usage to now is billed on the final invoice and unused \
                in-advance fees are credited). next_billing_cycle keeps access to the period end. \
                Free plans and free trials end at once.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The subscription's id.", valueName: "id")) var id: String
        @OptionGroup var timing: TimingOption

        func run() throws {
            let context = try options.context()
            let end = try context.store.cancelSubscription(id: id, timing: timing.changeTiming, now: context.now)
            printOut(end.rfc3339)
        }
    }

    struct Reactivate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a subscription's pending cancellation.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The subscription's id.", valueName: "id")) var id: String

        func run() throws {
            let context = try options.context()
            try context.store.reactivateSubscription(id: id, now: context.now)
            printOut("reactivated \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List subscriptions, oldest first, with their status at now (--at).",
            discussion: """
                JSONValue fields: id, customerKey, planKey, planVersion, anchor, start, end (null while \
                open), status (scheduled, active, canceled, inactive), pendingChange ({id, planKey, \
                planVersion, at} of a successor that starts later), pendingCancel (a scheduled \
                end), successorId.
                """)

        @OptionGroup var options: GlobalOptions
        @Option(help: "Output format.") var format: Format = .table

        func run() throws {
            let context = try options.context()
            let records = try context.store.subscriptions()
            switch format {
            case .json:
                printOut(SubscriptionJSON.subscriptions(records, now: context.now).rendered)
            case .table:
                let byId = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                var table = Table("ID", "CUSTOMER", "PLAN", "STATUS", "START", "END", "PENDING")
                for record in records {
                    let s = record.subscription
                    let pending = SubscriptionJSON.pending(record, successor: record.successorId.flatMap { byId[$0] }, now: context.now)
                    var next = ""
                    if let change = pending.change {
                        next = "change to \(change.subscription.plan.key) v\(change.subscription.plan.version) at \(change.subscription.start.rfc3339)"
                    } else if let cancel = pending.cancel {
                        next = "cancel at \(cancel.rfc3339)"
                    }
                    table.append([s.id, s.customerKey, "\(s.plan.key) v\(s.plan.version)", s.status(at: context.now).rawValue,
                                  s.start.rfc3339, s.end?.rfc3339 ?? "", next])
                }
                printOut(table.rendered)
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create subscriptions from a JSON file; prints their ids in order.",
            discussion: """
                The file is a JSONValue array of {customer, plan, version?, at, anchor?}; each is \
                created in order, starting at its `at` (RFC 3339), as if typed then. All or \
                nothing: the first refusal names its index and customer, and nothing is stored.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The subscriptions JSON file.", valueName: "file")) var file: String

        struct Entry: Decodable {
            var customer: String
            var plan: String
            var version: Int?
            var at: String
            var anchor: String?
        }

        func run() throws {
            let context = try options.context(creatingDatabase: true)
            let entries = try Import.entries(try readFile(file), file: file)
            let ids = try context.store.transaction {
                try entries.enumerated().map { index, entry in
                    let label = "\(file): subscriptions[\(index)] (customer \(entry.customer))"
                    guard let at = Instant(rfc3339: entry.at) else { throw InputError("\(label): at is not an RFC 3339 time: \(entry.at)") }
                    var anchor: Instant?
                    if let text = entry.anchor {
                        guard let instant = Instant(rfc3339: text) else { throw InputError("\(label): anchor is not an RFC 3339 time: \(text)") }
                        anchor = instant
                    }
                    if let version = entry.version, version < 1 { throw InputError("\(label): version must be 1 or more") }
                    do {
                        return try context.store.createSubscription(customerKey: entry.customer, planKey: entry.plan, version: entry.version,
                                                                    anchor: anchor, start: at, now: at).id
                    } catch let error as StoreInputError {
                        throw InputError("\(label): \(error.message)")
                    }
                }
            }
            ids.forEach(printOut)
        }

        /// Decodes the file, turning `DecodingError`'s coding path into "subscriptions[2].plan".
        static func entries(_ data: Data, file: String) throws -> [Entry] {
            do {
                return try JSONDecoder().decode([Entry].self, from: data)
            } catch let error as DecodingError {
                func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
                    (codingPath + (key.map { [$0] } ?? [])).reduce("subscriptions") { text, key in
                        key.intValue.map { "\(text)[\($0)]" } ?? "\(text).\(key.stringValue)"
                    }
                }
                switch error {
                case .keyNotFound(let key, let context):
                    throw InputError("\(file): \(path(context.codingPath, key)) is required")
                case .typeMismatch(_, let context), .valueNotFound(_, let context):
                    let expected = context.codingPath.last?.stringValue == "version" ? "a whole number"
                        : context.codingPath.isEmpty ? "a JSON array of {customer, plan, version?, at, anchor?}" : "a string"
                    throw InputError("\(file): \(path(context.codingPath)) must be \(expected)")
                case .dataCorrupted(let context) where !context.codingPath.isEmpty:
                    throw InputError("\(file): \(path(context.codingPath)) is not valid")
                case .dataCorrupted:
                    throw InputError("\(file) is not valid JSON")
                @unknown default:
                    throw InputError("\(file) is not a JSON array of {customer, plan, version?, at, anchor?}")
                }
            }
        }
    }
}
