import Foundation
import Testing

/// The invoice lifecycle, its totals, the test cards and the minimum charge.
@Suite struct InvoiceTests {
    private func int(_ reply: Reply, _ field: String) -> Int? { (reply.json[field] as? NSNumber)?.intValue }

    @Test func totalsFollowItemsAndTaxAmounts() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let invoice = try await client.draftInvoice(customer: customer, amounts: [1000, 1190, 250])
        let draft = try await client.get("/v1/invoices/\(invoice)")
        #expect(int(draft, "subtotal") == 2440)
        #expect(int(draft, "total") == 2440)
        #expect(int(draft, "amount_due") == 2440)
        #expect(draft.json["status"] as? String == "draft")
        #expect(draft.json["number"] is NSNull)

        let lines = try await client.get("/v1/invoices/\(invoice)/lines")
        let ids = lines.data.compactMap { $0["id"] as? String }
        #expect(ids.count == 3)
        #expect(lines.data.compactMap { $0["description"] as? String } == ["line 0", "line 1", "line 2"], "lines keep the order items were added")
        // Line 0: exclusive 19% on 10.00 = 1.90. Line 1: 11.90 with 19% inside = 1.90.
        let update = try await client.post("/v1/invoices/\(invoice)/update_lines", [
            "lines[0][id]=\(ids[0])", "lines[0][tax_amounts][0][amount]=190", "lines[0][tax_amounts][0][taxable_amount]=1000",
            "lines[0][tax_amounts][0][tax_rate_data][display_name]=VAT", "lines[0][tax_amounts][0][tax_rate_data][inclusive]=false",
            "lines[0][tax_amounts][0][tax_rate_data][percentage]=19", "lines[0][tax_amounts][0][tax_rate_data][country]=DE",
            "lines[1][id]=\(ids[1])", "lines[1][tax_amounts][0][amount]=190", "lines[1][tax_amounts][0][taxable_amount]=1000",
            "lines[1][tax_amounts][0][tax_rate_data][display_name]=VAT", "lines[1][tax_amounts][0][tax_rate_data][inclusive]=true",
            "lines[1][tax_amounts][0][tax_rate_data][percentage]=19", "invoice_metadata[tollbooth_invoice]=inv_1",
        ].joined(separator: "&"))
        #expect(update.status == 200, "\(update)")
        // subtotal 1000 + 1190 + 250 = 2440; exclusive tax 190 is added, the inclusive 190 is inside.
        #expect(int(update, "subtotal") == 2440)
        #expect(int(update, "subtotal_excluding_tax") == 2250)
        #expect(int(update, "total_excluding_tax") == 2250)
        #expect(int(update, "total") == 2630)
        #expect(int(update, "amount_due") == 2630)
        let taxes = try #require(update.json["total_taxes"] as? [[String: Any]])
        #expect(taxes.count == 2, "one entry per tax rate: exclusive and inclusive VAT differ")
        #expect(taxes.compactMap { ($0["amount"] as? NSNumber)?.intValue } == [190, 190])
        #expect((update.json["metadata"] as? [String: String])?["tollbooth_invoice"] == "inv_1")

        // One line changed on its own, through its own route.
        let line = try await client.post("/v1/invoices/\(invoice)/lines/\(ids[2])", "tax_amounts[0][amount]=48&tax_amounts[0][taxable_amount]=250&tax_amounts[0][tax_rate_data][display_name]=VAT&tax_amounts[0][tax_rate_data][inclusive]=false&tax_amounts[0][tax_rate_data][percentage]=19&tax_amounts[0][tax_rate_data][country]=DE")
        #expect(line.status == 200, "\(line)")
        #expect(line.json["object"] as? String == "line_item")
        let lineTaxes = try #require(line.json["taxes"] as? [[String: Any]])
        #expect(lineTaxes.first?["tax_behavior"] as? String == "exclusive")
        #expect((lineTaxes.first?["tax_rate_details"] as? [String: Any])?["tax_rate"] as? String == (taxes.first?["tax_rate_details"] as? [String: Any])?["tax_rate"] as? String,
                "the same rate data reuses the same tax rate")
        let retotalled = try await client.get("/v1/invoices/\(invoice)")
        #expect(int(retotalled, "total") == 2678)

        let noSuchLine = try await client.post("/v1/invoices/\(invoice)/update_lines", "lines[0][id]=il_nothing&lines[0][amount]=1")
        #expect(noSuchLine.status == 404)
        #expect(noSuchLine.error["param"] as? String == "lines[0][id]")
    }

    @Test func lifecycleDraftOpenPaidVoidUncollectible() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer("payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa&invoice_prefix=TOLL")
        let first = try await client.draftInvoice(customer: customer, amounts: [1500])

        #expect(try await client.post("/v1/invoices/\(first)/pay").status == 400, "a draft is not paid")
        #expect(try await client.post("/v1/invoices/\(first)/void").status == 400, "a draft is not voided")
        #expect(try await client.post("/v1/invoices/\(first)/mark_uncollectible").status == 400)

        let open = try await client.post("/v1/invoices/\(first)/finalize")
        #expect(open.status == 200, "\(open)")
        #expect(open.json["status"] as? String == "open")
        #expect(open.json["number"] as? String == "TOLL-0001")
        #expect(int(open, "attempt_count") == 0, "auto_advance false: no payment attempted")
        #expect(open.json["next_payment_attempt"] is NSNull)
        #expect((open.json["hosted_invoice_url"] as? String)?.hasPrefix(sim.base) == true)
        #expect((open.json["invoice_pdf"] as? String)?.hasSuffix("/pdf") == true)
        let transitions = try #require(open.json["status_transitions"] as? [String: Any])
        #expect(transitions["finalized_at"] is NSNumber)
        #expect(transitions["paid_at"] is NSNull)
        #expect(try await client.get(String((open.json["hosted_invoice_url"] as? String ?? "").dropFirst(sim.base.count))).status == 200)

        let again = try await client.post("/v1/invoices/\(first)/finalize")
        #expect(again.status == 400)
        #expect(again.error["message"] as? String == "This invoice is already finalized, you can't re-finalize a non-draft invoice.")
        let late = try await client.post("/v1/invoiceitems", "customer=\(customer)&invoice=\(first)&amount=1")
        #expect(late.status == 400, "only drafts take items")
        let lateLine = try await client.post("/v1/invoices/\(first)/update_lines", "lines[0][id]=il_x&lines[0][amount]=1")
        #expect(lateLine.status == 400)

        let paid = try await client.post("/v1/invoices/\(first)/pay")
        #expect(paid.status == 200, "\(paid)")
        #expect(paid.json["status"] as? String == "paid")
        #expect(int(paid, "amount_paid") == 1500)
        #expect(int(paid, "amount_remaining") == 0)
        #expect(int(paid, "attempt_count") == 1)
        #expect((paid.json["status_transitions"] as? [String: Any])?["paid_at"] is NSNumber)
        #expect(try await client.post("/v1/invoices/\(first)/void").status == 400, "a paid invoice is not voided")
        #expect(try await client.post("/v1/invoices/\(first)/pay").status == 400)

        let second = try await client.draftInvoice(customer: customer, amounts: [700])
        let secondOpen = try await client.post("/v1/invoices/\(second)/finalize")
        #expect(secondOpen.json["number"] as? String == "TOLL-0002")
        let voided = try await client.post("/v1/invoices/\(second)/void")
        #expect(voided.json["status"] as? String == "void")
        #expect((voided.json["status_transitions"] as? [String: Any])?["voided_at"] is NSNumber)

        let third = try await client.draftInvoice(customer: customer, amounts: [800])
        _ = try await client.post("/v1/invoices/\(third)/finalize")
        let uncollectible = try await client.post("/v1/invoices/\(third)/mark_uncollectible")
        #expect(uncollectible.json["status"] as? String == "uncollectible")
        #expect(try await client.post("/v1/invoices/\(third)/mark_uncollectible").status == 400)
        #expect(try await client.post("/v1/invoices/\(third)/void").json["status"] as? String == "void", "an uncollectible invoice may be voided")

        let listed = try await client.get("/v1/invoices?customer=\(customer)&limit=2")
        #expect(listed.data.compactMap { $0["id"] as? String } == [third, second])
        #expect(listed.json["has_more"] as? Bool == true)
        let byStatus = try await client.get("/v1/invoices?status=paid")
        #expect(byStatus.data.compactMap { $0["id"] as? String } == [first])

        let events = try await client.get("/v1/events?type=invoice.*&limit=100")
        let types = Set(events.data.compactMap { $0["type"] as? String })
        #expect(types.isSuperset(of: ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.voided", "invoice.marked_uncollectible"]))
    }

    /// `add_lines`: every line an item with its metadata and tax, totals recomputed, all or none,
    /// replayed under its key, drafts only.
    @Test func addLinesAddsEveryLineOrNone() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let invoice = try await client.draftInvoice(customer: customer, amounts: [])
        let tax = "lines[0][tax_amounts][0][amount]=190&lines[0][tax_amounts][0][taxable_amount]=1000&lines[0][tax_amounts][0][tax_rate_data][display_name]=VAT&lines[0][tax_amounts][0][tax_rate_data][inclusive]=false&lines[0][tax_amounts][0][tax_rate_data][percentage]=19"
        let body = "lines[0][amount]=1000&lines[0][description]=Fee&lines[0][period][start]=100&lines[0][period][end]=200&lines[0][metadata][tollbooth_line]=a&\(tax)&lines[1][amount]=-300&lines[1][metadata][tollbooth_line]=b"

        let broken = try await client.post("/v1/invoices/\(invoice)/add_lines", "lines[0][amount]=5&lines[1][description]=no+amount")
        #expect(broken.status == 400)
        #expect(broken.error["param"] as? String == "lines[1][amount]")
        #expect(try await client.get("/v1/invoiceitems?invoice=\(invoice)").data.isEmpty, "a failed call adds nothing")

        let added = try await client.post("/v1/invoices/\(invoice)/add_lines", body, idempotencyKey: "lines-1")
        #expect(added.status == 200, "\(added)")
        // 1,000 - 300 = 700; tax 190 on the first line: 890.
        #expect(int(added, "subtotal") == 700)
        #expect(int(added, "total") == 890)
        let replayed = try await client.post("/v1/invoices/\(invoice)/add_lines", body, idempotencyKey: "lines-1")
        #expect(replayed.header("Idempotent-Replayed") == "true")
        let lines = try await client.get("/v1/invoices/\(invoice)/lines").data
        #expect(lines.compactMap { ($0["metadata"] as? [String: String])?["tollbooth_line"] } == ["a", "b"])
        #expect(lines.compactMap { (($0["parent"] as? [String: Any])?["invoice_item_details"] as? [String: Any])?["invoice_item"] as? String }.count == 2)
        #expect(try await client.get("/v1/invoiceitems?invoice=\(invoice)").data.count == 2)

        _ = try await client.post("/v1/invoices/\(invoice)/finalize")
        let late = try await client.post("/v1/invoices/\(invoice)/add_lines", "lines[0][amount]=1")
        #expect(late.status == 400)
        #expect(late.error["code"] as? String == "invoice_not_editable")
    }

    @Test func autoAdvancePaysAtFinalize() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer("payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa")
        let invoice = try await client.draftInvoice(customer: customer, amounts: [2500])
        let finalized = try await client.post("/v1/invoices/\(invoice)/finalize", "auto_advance=true")
        #expect(finalized.json["status"] as? String == "paid")
        #expect(int(finalized, "amount_paid") == 2500)
        #expect(finalized.json["next_payment_attempt"] is NSNull)
    }

    /// A customer whose default payment method is the test card `token`, an open invoice of
    /// 20.00, and the answer of paying it.
    private func pay(with token: String, client: Client) async throws -> (invoice: String, reply: Reply) {
        let customer = try await client.post("/v1/customers", "email=card%40example.com")
        let attached = try await client.control("POST", "/_sim/checkout/sessions/\(try await checkout(customer.id, client))/complete",
                                                json: #"{"payment_method":"\#(token)"}"#)
        #expect(attached.status == 200, "\(attached)")
        let methods = try await client.get("/v1/customers/\(customer.id)/payment_methods")
        let method = try #require(methods.data.first?["id"] as? String)
        let update = try await client.post("/v1/customers/\(customer.id)", "invoice_settings[default_payment_method]=\(method)")
        #expect(update.status == 200, "\(update)")
        let invoice = try await client.draftInvoice(customer: customer.id, amounts: [2000])
        _ = try await client.post("/v1/invoices/\(invoice)/finalize")
        return (invoice, try await client.post("/v1/invoices/\(invoice)/pay"))
    }

    private func checkout(_ customer: String, _ client: Client) async throws -> String {
        let session = try await client.post("/v1/checkout/sessions", "mode=setup&customer=\(customer)&currency=usd&success_url=https://example.com/ok")
        #expect(session.status == 200, "\(session)")
        return session.id
    }

    @Test func testCardOutcomes() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)

        let visa = try await pay(with: "pm_card_visa", client: client)
        #expect(visa.reply.status == 200)
        #expect(visa.reply.json["status"] as? String == "paid")

        let fail = try await pay(with: "pm_card_chargeCustomerFail", client: client)
        #expect(fail.reply.status == 402)
        #expect(fail.reply.error["type"] as? String == "card_error")
        #expect(fail.reply.error["code"] as? String == "card_declined")
        #expect(fail.reply.error["decline_code"] as? String == "generic_decline")
        let failed = try await client.get("/v1/invoices/\(fail.invoice)")
        #expect(failed.json["status"] as? String == "open")
        #expect(int(failed, "attempt_count") == 1)
        #expect(failed.json["attempted"] as? Bool == true)
        let failedCustomer = try #require(failed.json["customer"] as? String)
        #expect(try await client.get("/v1/customers/\(failedCustomer)").json["delinquent"] as? Bool == true)

        // 9995 and 0002 fail Stripe's card check when attached: Checkout does not complete, and
        // a customer is not made with one.
        let broke = try await client.post("/v1/customers", "email=broke%40example.com")
        let session = try await checkout(broke.id, client)
        let funds = try await client.control("POST", "/_sim/checkout/sessions/\(session)/complete",
                                             json: #"{"payment_method":"pm_card_visa_chargeDeclinedInsufficientFunds"}"#)
        #expect(funds.status == 402)
        #expect(funds.error["type"] as? String == "card_error")
        #expect(funds.error["code"] as? String == "card_declined")
        #expect(funds.error["decline_code"] as? String == "insufficient_funds")
        #expect(try await client.get("/v1/checkout/sessions/\(session)").json["status"] as? String == "open")
        #expect(try await client.get("/v1/customers/\(broke.id)/payment_methods").data.isEmpty)
        let declined = try await client.post("/v1/customers", "email=declined%40example.com&payment_method=pm_card_chargeDeclined")
        #expect(declined.status == 402)
        #expect(declined.error["decline_code"] as? String == "generic_decline")
        #expect(declined.error["param"] as? String == "payment_method")
        let retried = try await client.post("/v1/invoices/\(fail.invoice)/pay")
        #expect(retried.status == 402)
        #expect(int(try await client.get("/v1/invoices/\(fail.invoice)"), "attempt_count") == 2)

        let action = try await pay(with: "pm_card_authenticationRequired", client: client)
        #expect(action.reply.status == 402)
        #expect(action.reply.error["code"] as? String == "invoice_payment_intent_requires_action")
        #expect(try await client.get("/v1/invoices/\(action.invoice)").json["status"] as? String == "open")

        let events = try await client.get("/v1/events?limit=100")
        let byType = Dictionary(grouping: events.data) { $0["type"] as? String ?? "" }
        let actionEvent = try #require(byType["invoice.payment_action_required"]?.first)
        #expect(((actionEvent["data"] as? [String: Any])?["object"] as? [String: Any])?["id"] as? String == action.invoice)
        #expect((byType["invoice.payment_failed"] ?? []).count == 2)
        #expect(byType["checkout.session.completed"]?.count == 3)
    }

    @Test func onlyTheDefaultPaymentMethodIsCharged() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        // A card attached but not made the default is not charged.
        let customer = try await client.customer("payment_method=pm_card_visa")
        let invoice = try await client.draftInvoice(customer: customer, amounts: [900])
        _ = try await client.post("/v1/invoices/\(invoice)/finalize")
        let reply = try await client.post("/v1/invoices/\(invoice)/pay")
        #expect(reply.status == 400)
        #expect((reply.error["message"] as? String)?.contains("no attached payment source or default payment method") == true)
        #expect(try await client.get("/v1/invoices/\(invoice)").json["status"] as? String == "open")
        let notAttached = try await client.post("/v1/customers/\(customer)", "invoice_settings[default_payment_method]=pm_card_visa")
        #expect(notAttached.status == 400, "a test token is not an attached payment method")
    }

    @Test func belowTheMinimumChargeIsPaidAndCarriedOnTheBalance() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer("payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa")
        let small = try await client.draftInvoice(customer: customer, amounts: [30])
        let finalized = try await client.post("/v1/invoices/\(small)/finalize", "auto_advance=true")
        #expect(finalized.json["status"] as? String == "paid")
        #expect(int(finalized, "total") == 30)
        #expect(int(finalized, "amount_due") == 0)
        #expect(int(finalized, "amount_paid") == 0)
        #expect(int(finalized, "ending_balance") == 30)
        #expect(int(try await client.get("/v1/customers/\(customer)"), "balance") == 30)

        let next = try await client.draftInvoice(customer: customer, amounts: [1000])
        let charged = try await client.post("/v1/invoices/\(next)/finalize", "auto_advance=true")
        // 10.00 + the 0.30 carried = 10.30 charged.
        #expect(int(charged, "starting_balance") == 30)
        #expect(int(charged, "amount_due") == 1030)
        #expect(int(charged, "amount_paid") == 1030)
        #expect(charged.json["status"] as? String == "paid")
        #expect(int(try await client.get("/v1/customers/\(customer)"), "balance") == 0)

        let yen = try await client.customer()
        let yenInvoice = try await client.draftInvoice(customer: yen, amounts: [49], currency: "jpy")
        let yenFinal = try await client.post("/v1/invoices/\(yenInvoice)/finalize")
        #expect(yenFinal.json["status"] as? String == "paid", "49 JPY is below Stripe's 50 JPY minimum")
        let yenAbove = try await client.draftInvoice(customer: yen, amounts: [50], currency: "jpy")
        #expect(try await client.post("/v1/invoices/\(yenAbove)/finalize").json["status"] as? String == "open")
    }

    @Test func invoiceItemsListByInvoiceAndDelete() async throws {
        let sim = try SimulatorProcess()
        let client = Client(base: sim.base)
        let customer = try await client.customer()
        let invoice = try await client.draftInvoice(customer: customer, amounts: [100, 200, 300])
        let other = try await client.draftInvoice(customer: customer, amounts: [999])
        let items = try await client.get("/v1/invoiceitems?invoice=\(invoice)&limit=2")
        #expect(items.data.count == 2)
        #expect(items.json["has_more"] as? Bool == true)
        let all = try await client.get("/v1/invoiceitems?invoice=\(invoice)")
        #expect(all.data.compactMap { ($0["amount"] as? NSNumber)?.intValue } == [300, 200, 100])
        #expect(all.data.allSatisfy { ($0["metadata"] as? [String: String])?["tollbooth_line"] != nil })
        #expect(try await client.get("/v1/invoiceitems?invoice=\(other)").data.count == 1)
        let deleted = try await client.delete("/v1/invoiceitems/\(try #require(all.data.first?["id"] as? String))")
        #expect(deleted.json["deleted"] as? Bool == true)
        #expect(int(try await client.get("/v1/invoices/\(invoice)"), "total") == 300)
        let mismatch = try await client.post("/v1/invoiceitems", "customer=\(customer)&invoice=\(invoice)&amount=1&currency=eur")
        #expect(mismatch.status == 400)
        #expect(mismatch.error["param"] as? String == "currency")
    }
}
