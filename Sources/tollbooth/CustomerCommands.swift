import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct CustomersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers",
        abstract: "Import and list customers; payment, portal and usage links; API keys.",
        subcommands: [Import.self, List.self, PaymentLink.self, PortalLink.self, APIKeyCommand.self, UsageLinkCommand.self])
}

extension CustomersCommand {
    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add new customers and update known ones from a JSON file.",
            discussion: """
                The file is a JSONValue array of {key, name, email, currency, billingAddress, \
                taxExempt, taxIds, usageAttribution: {subjectKeys}, metadata}. A known key \
                updates that customer. All or nothing: every problem of the file is listed, and \
                nothing is stored unless every customer can be.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customers JSON file.", valueName: "file")) var file: String

        func run() throws {
            let context = try options.context(creatingDatabase: true)
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
                printOut(JSONValue.array(customers.map(CustomerJSON.customer)).rendered)
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
                Creates the customer's Stripe Customer if it has none, then a Checkout Session in \
                setup mode for it. When the session completes, Tollbooth makes the newest saved \
                payment method the one invoices charge (on checkout.session.completed). Needs a \
                connected Stripe account (`tollbooth stripe connect`).
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customer's key.", valueName: "key")) var key: String
        @Option(help: ArgumentHelp("Where Stripe sends the customer afterwards (default: /payment-method-saved on stripe.webhookUrl's host).",
                                   valueName: "url"))
        var successUrl: String?

        func run() throws {
            let (context, payments) = try CustomersCommand.payments(customer: key, options: options)
            guard let url = successUrl ?? CustomersCommand.page("payment-method-saved", settings: context.settings) else {
                throw InputError("give --success-url: the page Stripe shows the customer after saving a payment method (or set stripe.webhookUrl)")
            }
            printOut(try payments.paymentLink(customerKey: key, successUrl: url).url)
        }
    }

    struct PortalLink: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "portal-link",
            abstract: "Print a Stripe Customer Portal link for the customer.",
            discussion: """
                In the portal the customer manages payment methods and sees invoices. Creates the \
                customer's Stripe Customer if it has none. Needs a connected Stripe account \
                (`tollbooth stripe connect`).
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customer's key.", valueName: "key")) var key: String
        @Option(help: ArgumentHelp("Where the portal's back link leads (default: the account's default).", valueName: "url"))
        var returnUrl: String?

        func run() throws {
            let (_, payments) = try CustomersCommand.payments(customer: key, options: options)
            printOut(try payments.portalLink(customerKey: key, returnUrl: returnUrl))
        }
    }

    /// The customer's payment set-up; the customer problem first (the user can fix that now),
    /// then a missing Stripe connection.
    static func payments(customer key: String, options: GlobalOptions) throws -> (Context, CustomerPayments) {
        let context = try options.context()
        guard try context.store.customer(key: key) != nil else {
            throw InputError("no customer \(key): import it with `tollbooth customers import`")
        }
        guard let connection = try StripeCommand.connection(options) else {
            throw CommandFailure("Stripe is not connected: run `tollbooth stripe connect` first")
        }
        return (context, CustomerPayments(store: context.store, connection: connection, now: context.now))
    }

    /// A page on the host of stripe.webhookUrl (the server's public address).
    static func page(_ name: String, settings: Settings) -> String? {
        guard let webhook = settings.stripe.webhookUrl, var components = URLComponents(string: webhook) else { return nil }
        components.path = "/" + name
        components.query = nil
        return components.string
    }
}
