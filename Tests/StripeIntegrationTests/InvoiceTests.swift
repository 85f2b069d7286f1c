import Billing
import Foundation
import Stripe
import Testing

/// An invoice the way the issue stage builds one (a draft, items on it with `invoice=`, tax
/// written onto its lines, finalized), then paid, declined, voided and marked uncollectible;
/// and invoices listed page by page.
@Suite struct InvoiceTests {
    /// 19 % VAT charged on top; equal data makes Stripe reuse one tax rate.
    let vat = TaxRateData(displayName: "VAT", inclusive: false, percentage: Decimal(string: "19")!, country: "DE", taxType: "vat")
    /// 7 % already inside the line's amount.
    let reduced = TaxRateData(displayName: "VAT reduced", inclusive: true, percentage: Decimal(string: "7")!, country: "DE", taxType: "vat")

    @Test func aDraftFilledWithItemsAndTaxIsFinalizedAndPaid() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let (customer, card) = try sim.customer(paying: "pm_card_visa", stripe: stripe, name: "visa")
        // Waiting for the customer's next invoice: `exclude` must leave it out of this one.
        let pending = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: nil, amount: 999, currency: .eur),
                                                   idempotencyKey: "item-pending")
        #expect(pending.invoice == nil)

        let draft = try stripe.createInvoice(
            InvoiceCreate(customer: customer.id, currency: .eur, autoAdvance: false, collectionMethod: .chargeAutomatically,
                          description: "March 2026", pendingInvoiceItems: .exclude, metadata: ["tollbooth_invoice": "inv-1"]),
            idempotencyKey: "tollbooth-invoice-inv-1")
        #expect(draft.id.hasPrefix("in_"))
        #expect(draft.status == .draft)
        #expect(draft.autoAdvance == false)
        #expect(draft.collectionMethod == .chargeAutomatically)
        #expect(draft.currency == "eur")
        #expect(draft.metadata == ["tollbooth_invoice": "inv-1"])
        #expect(draft.lines.data.isEmpty, "the pending item stays pending")
        #expect(draft.total == 0)
        #expect(draft.number == nil)

        let march = StripePeriod(start: 1_772_323_200, end: 1_775_001_600)
        let amounts: [Int64] = [1_850, 2_500, 125]
        var items: [InvoiceItem] = []
        for (index, amount) in amounts.enumerated() {
            let item = try stripe.createInvoiceItem(
                InvoiceItemCreate(customer: customer.id, invoice: draft.id, amount: amount, currency: .eur,
                                  description: "line \(index)", period: march, metadata: ["tollbooth_line": "l\(index)"]),
                idempotencyKey: "tollbooth-line-l\(index)")
            #expect(item.id.hasPrefix("ii_"))
            #expect(item.invoice == draft.id)
            #expect(item.amount == amount)
            #expect(item.currency == "eur")
            #expect(item.period == march)
            #expect(item.metadata == ["tollbooth_line": "l\(index)"])
            items.append(item)
        }
        let listed = try stripe.listInvoiceItems(InvoiceItemListQuery(invoice: draft.id))
        #expect(Set(listed.data.map(\.id)) == Set(items.map(\.id)))
        #expect(listed.hasMore == false)
        #expect(try stripe.allInvoiceItems(InvoiceItemListQuery(invoice: draft.id, page: Page(limit: 1))).count == 3)
        #expect(try stripe.allInvoiceItems(InvoiceItemListQuery(customer: customer.id)).count == 4, "three on the invoice, one pending")

        let lines = try stripe.allInvoiceLines(invoice: draft.id)
        #expect(lines.count == 3)
        let lineOf = Dictionary(uniqueKeysWithValues: lines.compactMap { line in line.invoiceItem.map { ($0, line) } })
        let line = try items.map { item in try #require(lineOf[item.id], "a line for \(item.id)") }
        #expect(line.map(\.amount) == amounts)
        #expect(line.allSatisfy { $0.period == march && $0.invoice == draft.id })
        #expect(line.map(\.metadata) == [["tollbooth_line": "l0"], ["tollbooth_line": "l1"], ["tollbooth_line": "l2"]])
        #expect(try stripe.listInvoiceLines(invoice: draft.id, Page(limit: 2)).hasMore)

        // Line 0 alone, lines 1 and 2 together. Half a cent rounds away from zero:
        // 1850 x 19 % = 351.5 -> 352; 2500 x 19 % = 475; 125 inside 7 %: 125 - round(125 / 1.07) = 125 - 117 = 8.
        let taxed = try stripe.updateInvoiceLine(
            invoice: draft.id, line: line[0].id,
            InvoiceLineUpdate(taxAmounts: [TaxAmount(amount: 352, taxableAmount: 1_850, rate: vat, taxabilityReason: "standard_rated")]),
            idempotencyKey: "tax-line-l0")
        #expect(taxed.id == line[0].id)
        #expect(taxed.taxes?.map(\.amount) == [352])
        #expect(taxed.taxes?.first?.taxBehavior == "exclusive")
        #expect(taxed.taxes?.first?.taxRateDetails?.taxRate.hasPrefix("txr_") == true)
        let updated = try stripe.updateInvoiceLines(
            invoice: draft.id,
            InvoiceLinesUpdate(lines: [
                .init(id: line[1].id, changes: InvoiceLineUpdate(taxAmounts: [TaxAmount(amount: 475, taxableAmount: 2_500, rate: vat)])),
                .init(id: line[2].id, changes: InvoiceLineUpdate(taxAmounts: [TaxAmount(amount: 8, taxableAmount: 117, rate: reduced)])),
            ], invoiceMetadata: ["tax": "tollbooth"]),
            idempotencyKey: "tax-lines-l1-l2")
        #expect(updated.metadata == ["tollbooth_invoice": "inv-1", "tax": "tollbooth"])

        // subtotal: 1850 + 2500 + 125 = 4475 (the inclusive 8 is inside 125)
        // total_taxes: VAT 352 + 475 = 827 (one rate), reduced 8
        // total: 4475 + 827 exclusive = 5302; amount_due 5302 with no balance
        #expect(updated.subtotal == 4_475)
        #expect(updated.subtotalExcludingTax == 4_467)  // 4475 - 8 inclusive
        #expect(updated.total == 5_302)
        #expect(updated.totalExcludingTax == 4_467)  // 5302 - 827 - 8
        let taxes = try #require(updated.totalTaxes)
        #expect(taxes.map(\.amount).sorted() == [8, 827])
        #expect(taxes.first { $0.amount == 827 }?.taxableAmount == 4_350)  // 1850 + 2500
        #expect(taxes.first { $0.amount == 827 }?.taxRateDetails?.taxRate == taxed.taxes?.first?.taxRateDetails?.taxRate)
        #expect(taxes.first { $0.amount == 8 }?.taxBehavior == "inclusive")
        #expect(updated.amountDue == 5_302)
        #expect(try stripe.retrieveInvoice(draft.id) == updated)

        let issued = try stripe.finalizeInvoice(draft.id, idempotencyKey: "tollbooth-finalize-inv-1")
        #expect(issued.status == .open)
        #expect(issued.number?.hasSuffix("-0001") == true, "the customer's first invoice number: \(issued.number ?? "none")")
        #expect(issued.hostedInvoiceUrl != nil)
        #expect(issued.invoicePdf != nil)
        #expect(issued.statusTransitions.finalizedAt != nil)
        #expect(issued.amountDue == 5_302)
        #expect(issued.amountRemaining == 5_302)
        #expect(issued.startingBalance == 0)
        #expect(issued.attemptCount == 0, "auto_advance false: no attempt at finalize")

        let paid = try stripe.payInvoice(issued.id, InvoicePay(paymentMethod: card.id), idempotencyKey: "tollbooth-pay-inv-1")
        #expect(paid.status == .paid)
        #expect(paid.amountPaid == 5_302)
        #expect(paid.amountRemaining == 0)
        #expect(paid.attemptCount == 1)
        #expect(paid.statusTransitions.paidAt != nil)
        #expect(paid.number == issued.number)

        // The pending item is still waiting.
        #expect(try stripe.listInvoiceItems(InvoiceItemListQuery(customer: customer.id)).data.contains { $0.id == pending.id && $0.invoice == nil })
    }

    @Test func aDeclinedCardIsACardErrorAndTheInvoiceStaysOpenWithOneAttempt() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        // 0341 passes the card check when saved and declines when charged.
        let (customer, _) = try sim.customer(paying: "pm_card_chargeCustomerFail", stripe: stripe, name: "broke")
        let invoice = try issuedInvoice(stripe, customer: customer.id, amount: 5_000, name: "declined")

        let declined = stripeError { () throws(StripeError) in
            try stripe.payInvoice(invoice.id, idempotencyKey: "pay-declined")
        }
        #expect(declined?.kind == .api)
        #expect(declined?.status == 402)
        #expect(declined?.type == "card_error")
        #expect(declined?.code == "card_declined")
        #expect(declined?.declineCode == "generic_decline")
        #expect(declined?.attempts == 1, "a decline is not retried")
        #expect(declined?.isTransient == false)
        #expect(declined?.requestId?.hasPrefix("req_") == true)
        #expect(declined?.description.contains("generic_decline") == true, "\(declined.map { "\($0)" } ?? "")")

        let after = try stripe.retrieveInvoice(invoice.id)
        #expect(after.status == .open)
        #expect(after.attemptCount == 1)
        #expect(after.attempted)
        #expect(after.amountPaid == 0)
        #expect(after.amountRemaining == 5_000)

        let uncollectible = try stripe.markInvoiceUncollectible(invoice.id, idempotencyKey: "uncollectible-declined")
        #expect(uncollectible.status == .uncollectible)
        #expect(uncollectible.statusTransitions.markedUncollectibleAt != nil)
        // Stripe lets an uncollectible invoice be voided as well.
        let voided = try stripe.voidInvoice(invoice.id, idempotencyKey: "void-declined")
        #expect(voided.status == .void)
        #expect(voided.statusTransitions.voidedAt != nil)

        // An open invoice is voided directly; a void one cannot be paid.
        let second = try issuedInvoice(stripe, customer: customer.id, amount: 700, name: "second")
        #expect(try stripe.voidInvoice(second.id, idempotencyKey: "void-second").status == .void)
        let payVoid = stripeError { () throws(StripeError) in try stripe.payInvoice(second.id, idempotencyKey: "pay-void") }
        #expect(payVoid?.status == 400)
        #expect(payVoid?.type == "invalid_request_error")
    }

    @Test func invoicesAreListedByCustomerPageByPage() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "many@example.com"), idempotencyKey: "customer-many")
        let other = try stripe.createCustomer(CustomerCreate(email: "other@example.com"), idempotencyKey: "customer-other")
        var created: [String] = []
        for index in 0..<5 {
            created.append(try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur, metadata: ["n": "\(index)"]),
                                                    idempotencyKey: "invoice-many-\(index)").id)
        }
        _ = try stripe.createInvoice(InvoiceCreate(customer: other.id, currency: .eur), idempotencyKey: "invoice-other")
        let newestFirst = Array(created.reversed())

        let first = try stripe.listInvoices(InvoiceListQuery(customer: customer.id, page: Page(limit: 2)))
        #expect(first.data.map(\.id) == Array(newestFirst[0..<2]))
        #expect(first.hasMore)
        let second = try stripe.listInvoices(InvoiceListQuery(customer: customer.id, page: Page(limit: 2, startingAfter: first.data.last?.id)))
        #expect(second.data.map(\.id) == Array(newestFirst[2..<4]))
        #expect(second.hasMore)
        let third = try stripe.listInvoices(InvoiceListQuery(customer: customer.id, page: Page(limit: 2, startingAfter: second.data.last?.id)))
        #expect(third.data.map(\.id) == [newestFirst[4]])
        #expect(third.hasMore == false)

        let before = try sim.requests(method: "GET", path: "/v1/invoices").count
        let all = try stripe.allInvoices(InvoiceListQuery(customer: customer.id, page: Page(limit: 2)))
        #expect(all.map(\.id) == newestFirst)
        #expect(try sim.requests(method: "GET", path: "/v1/invoices").count - before == 3, "pages of 2, 2 and 1")
        #expect(try stripe.allInvoices().count == 6)
        #expect(try stripe.allInvoices(InvoiceListQuery(customer: customer.id, status: .open)).isEmpty)
        #expect(try stripe.allInvoices(InvoiceListQuery(status: .draft)).count == 6)
    }

    @Test func anInvoiceEmbedsItsFirstTenLinesAndListsTheRest() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "lines@example.com"), idempotencyKey: "customer-lines")
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-lines")
        for index in 1...12 {
            _ = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: draft.id, amount: Int64(index) * 100,
                                                               currency: .eur, metadata: ["tollbooth_line": "l\(index)"]),
                                             idempotencyKey: "item-lines-\(index)")
        }
        let invoice = try stripe.retrieveInvoice(draft.id)
        #expect(invoice.lines.data.count == 10)
        #expect(invoice.lines.hasMore)
        // 100 + 200 + ... + 1200 = 100 x (12 x 13 / 2) = 7800
        #expect(invoice.subtotal == 7_800)
        let lines = try stripe.allInvoiceLines(invoice: draft.id)
        #expect(lines.count == 12)
        #expect(Set(lines.map(\.id)).count == 12)
        #expect(lines.reduce(0) { $0 + $1.amount } == 7_800)
        #expect(Set(lines.compactMap { $0.metadata["tollbooth_line"] }) == Set((1...12).map { "l\($0)" }))
    }

    @Test func finalizingWithAutoAdvanceMakesTheFirstAttemptAtOnce() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let (customer, _) = try sim.customer(paying: "pm_card_chargeCustomerFail", stripe: stripe, name: "auto")
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-auto")
        _ = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer.id, invoice: draft.id, amount: 3_000, currency: .eur),
                                         idempotencyKey: "item-auto")
        // A failed automatic attempt is the invoice's, not the call's: finalize answers 200.
        let issued = try stripe.finalizeInvoice(draft.id, autoAdvance: true, idempotencyKey: "finalize-auto")
        #expect(issued.status == .open)
        #expect(issued.autoAdvance)
        #expect(issued.attemptCount == 1)
        #expect(issued.nextPaymentAttempt != nil, "Stripe will try again")
        guard case .customer(let reread) = try stripe.retrieveCustomer(customer.id) else {
            Issue.record("\(customer.id) was retrieved as deleted")
            return
        }
        #expect(reread.delinquent == true)
    }

    @Test func addLinesPutsEveryLineOnTheDraftWithItsTaxAndAnswersTheTotals() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "bulk@example.com"), idempotencyKey: "customer-bulk")
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer.id, currency: .eur), idempotencyKey: "invoice-bulk")
        let vat = TaxRateData(displayName: "VAT", inclusive: false, percentage: 19, country: "DE")
        var lines: [InvoiceLinesAdd.Line] = []
        for index in 1...60 {
            let amount = Int64(index) * 100
            let tax = TaxAmount(amount: Int64(index) * 19, taxableAmount: amount, rate: vat)
            lines.append(InvoiceLinesAdd.Line(amount: amount, description: "line \(index)", period: StripePeriod(start: 1_000, end: 2_000),
                                              metadata: ["tollbooth_line": "l\(index)"], taxAmounts: [tax]))
        }
        let first = try stripe.addInvoiceLines(invoice: draft.id, InvoiceLinesAdd(lines: Array(lines[..<50])), idempotencyKey: "lines-bulk-l1")
        // 100 x (1 + ... + 50) = 127,500; tax 19 x 1,275 = 24,225.
        #expect(first.subtotal == 127_500)
        #expect(first.total == 151_725)
        let replayed = try stripe.addInvoiceLines(invoice: draft.id, InvoiceLinesAdd(lines: Array(lines[..<50])), idempotencyKey: "lines-bulk-l1")
        #expect(replayed.total == first.total, "a replay adds nothing")
        let last = try stripe.addInvoiceLines(invoice: draft.id, InvoiceLinesAdd(lines: Array(lines[50...])), idempotencyKey: "lines-bulk-l51")
        // 100 x (1 + ... + 60) = 183,000; tax 19 x 1,830 = 34,770.
        #expect(last.subtotal == 183_000)
        #expect(last.total == 217_770)
        let onStripe = try stripe.allInvoiceLines(invoice: draft.id)
        #expect(onStripe.count == 60)
        #expect(Set(onStripe.compactMap { $0.metadata["tollbooth_line"] }).count == 60)
        #expect(onStripe.allSatisfy { $0.invoiceItem?.hasPrefix("ii_") == true && $0.taxes?.count == 1 })
        #expect(try stripe.allInvoiceItems(InvoiceItemListQuery(invoice: draft.id, page: Page(limit: 100))).count == 60)

        _ = try stripe.finalizeInvoice(draft.id, idempotencyKey: "finalize-bulk")
        let late = stripeError { () throws(StripeError) in
            try stripe.addInvoiceLines(invoice: draft.id, InvoiceLinesAdd(lines: [.init(amount: 1)]), idempotencyKey: "lines-late")
        }
        #expect(late?.status == 400)
        #expect(late?.code == "invoice_not_editable")
        #expect(try stripe.allInvoiceLines(invoice: draft.id).count == 60, "a finalized invoice takes no lines")
    }

    /// A finalized invoice of one item of `amount` euro cents.
    private func issuedInvoice(_ stripe: StripeClient, customer: String, amount: Int64, name: String) throws -> StripeInvoice {
        let draft = try stripe.createInvoice(InvoiceCreate(customer: customer, currency: .eur), idempotencyKey: "invoice-\(name)")
        _ = try stripe.createInvoiceItem(InvoiceItemCreate(customer: customer, invoice: draft.id, amount: amount, currency: .eur),
                                         idempotencyKey: "item-\(name)")
        let issued = try stripe.finalizeInvoice(draft.id, idempotencyKey: "finalize-\(name)")
        #expect(issued.status == .open)
        #expect(issued.amountDue == amount)
        return issued
    }
}
