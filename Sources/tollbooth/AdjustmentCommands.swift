import ArgumentParser
import Billing
import Foundation
import Pipeline
import Store

struct AdjustmentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adjustments",
        abstract: "Add manual charges and credits to a customer's next invoice.",
        subcommands: [Add.self])
}

extension AdjustmentsCommand {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an adjustment line (+ charge, - credit) to the customer's next invoice; prints its id.",
            discussion: """
                The amount is a decimal in the customer's currency with at most that currency's \
                decimals ("12.50", "-5", JPY "500"). A credit larger than the invoice carries to \
                the next one.
                """)

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("The customer's key.", valueName: "key")) var customer: String
        // Unconditional, so a credit such as -5 is read as the value, not as an option.
        @Option(parsing: .unconditional, help: ArgumentHelp("The amount, + or -, in major units (\"12.50\", \"-5\").", valueName: "amount"))
        var amount: String
        @Option(help: ArgumentHelp("Why, shown on the invoice line.", valueName: "text")) var reason: String

        func validate() throws {
            guard let value = Decimal(exactly: amount) else {
                throw ValidationError("--amount must be a decimal number such as 12.50 or -5, not \(amount)")
            }
            if value == 0 { throw ValidationError("--amount must not be zero") }
            if reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("--reason must say why: it is the invoice line's description")
            }
        }

        func run() throws {
            let context = try options.context()
            let store = context.store
            // validate() has checked the text.
            let value = Decimal(exactly: amount) ?? 0
            guard let found = try store.customer(key: customer) else {
                throw InputError("no customer \(customer): import it with `tollbooth customers import`")
            }
            // A customer without a currency of its own is billed in its plans' currency.
            guard let currency = try found.currency ?? store.subscriptions(customerKey: customer).last?.subscription.plan.currency else {
                throw InputError("customer \(customer) has no currency yet: set `currency` in the customers file or subscribe it to a plan first")
            }
            guard value.rounded(scale: currency.billingScale) == value else {
                let decimals = currency.billingScale == 1 ? "1 decimal" : "\(currency.billingScale) decimals"
                throw InputError("--amount \(amount) has more decimals than \(currency.code) allows (\(decimals))")
            }
            let id = try store.addAdjustment(customerKey: customer, amount: value, reason: reason, at: context.now)
            printOut(id)
        }
    }
}
