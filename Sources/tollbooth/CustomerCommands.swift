import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct CustomersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers",
        abstract: "Import and list customers; payment and portal links.",
        subcommands: [Import.self, List.self, PaymentLink.self, PortalLink.self])
}

extension CustomersCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add new customers and update known ones from a JSON file.",
            discussion: """
                The file is a JSON array of {key, name, email, currency, billingAddress, \
                taxExempt, taxIds, usageAttribution: {subjectKeys}, metadata}. A known key \
                updates that customer. All or nothing: every problem of the file is listed, and \
                nothing is stored unless every customer can be.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customers JSON file.", valueName: "file")) var file: String

        func run() throws {
            let context = try options.context()
            let customers: [Customer]
            do { customers = try CustomerReader.read(try readFile(file)) } catch let error as CatalogError {
                throw ProblemList(file: file, error)
            }
            let result = try context.store.importCustomers(customers, at: context.now)
            printOut("\(result.added) added, \(result.updated) updated")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List customers.",
            discussion: "--format json prints the customers file format, so the list imports back unchanged.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "Output format.") var format: Format = .table

        func run() throws {
            let customers = try options.context().store.customers()
            switch format {
            case .json:
                printOut(JSON.array(customers.map(CustomerJSON.customer)).rendered)
            case .table:
                var table = Table("CUSTOMER", "NAME", "EMAIL", "CURRENCY", "COUNTRY", "TAX", "SUBJECT KEYS")
                for customer in customers {
                    table.append([customer.key, customer.name, customer.email ?? "", customer.currency?.code ?? "",
                                  customer.billingAddress.country ?? "", customer.taxExempt.rawValue,
                                  customer.subjectKeys.joined(separator: ", ")])
                }
                printOut(table.rendered)
            }
        }
    }

    struct PaymentLink: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "payment-link",
            abstract: "Print a Stripe Checkout link where the customer saves a payment method.",
            discussion: """
                Creates a Checkout Session in setup mode for the customer's Stripe Customer; once \
                it completes, the new payment method becomes the one invoices charge. Needs a \
                connected Stripe account (`tollbooth stripe connect`).
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customer's key.", valueName: "key")) var key: String

        func run() throws {
            try CustomersCommand.requireStripe(customer: key, options: options)
        }
    }

    struct PortalLink: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "portal-link",
            abstract: "Print a Stripe Customer Portal link for the customer.",
            discussion: """
                In the portal the customer manages payment methods and sees invoices. Needs a \
                connected Stripe account (`tollbooth stripe connect`).
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customer's key.", valueName: "key")) var key: String

        func run() throws {
            try CustomersCommand.requireStripe(customer: key, options: options)
        }
    }

    /// The Stripe client is not part of this build yet: name the customer problem first (the
    /// user can fix that now), then say what is missing.
    static func requireStripe(customer key: String, options: GlobalOptions) throws {
        let context = try options.context()
        guard try context.store.customer(key: key) != nil else {
            throw InputError("no customer \(key): import it with `tollbooth customers import`")
        }
        throw CommandFailure("Stripe is not connected yet: run `tollbooth stripe connect` first")
    }
}
