import Billing
import Foundation
import Stripe
import Testing

/// Account, customers, a setup Checkout Session completed through the simulator, the saved
/// card, the default payment method and a portal session: every answer decoded by the client.
@Suite struct CustomerAndPaymentSetupTests {
    @Test func theAccountOfTheKeyDecodes() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let account = try stripe.retrieveAccount()
        #expect(account.id == defaultAccount)
        #expect(account.chargesEnabled != nil)
    }

    @Test func customersAreCreatedUpdatedRetrievedAndFoundByEmailPageByPage() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let created = try stripe.createCustomer(
            CustomerCreate(name: "Acme GmbH", email: "billing@acme.example", description: "tollbooth customer c1",
                           address: Address(line1: "Hauptstr. 1", city: "Berlin", postalCode: "10115", country: "DE"),
                           taxExempt: TaxExempt.none, taxIds: [TaxID(type: "eu_vat", value: "DE123456789")],
                           metadata: ["tollbooth_customer": "c1"]),
            idempotencyKey: "tollbooth-customer-c1")
        #expect(created.id.hasPrefix("cus_"))
        #expect(created.email == "billing@acme.example")
        #expect(created.address?.country == "DE")
        #expect(created.taxExempt == TaxExempt.none)
        #expect(created.metadata == ["tollbooth_customer": "c1"])
        #expect(created.livemode == false)

        let updated = try stripe.updateCustomer(created.id, CustomerUpdate(name: "Acme AG", taxExempt: .reverse,
                                                                           metadata: ["plan": "pro"]),
                                                idempotencyKey: "tollbooth-customer-c1-update-1")
        #expect(updated.name == "Acme AG")
        #expect(updated.taxExempt == .reverse)
        #expect(updated.metadata == ["tollbooth_customer": "c1", "plan": "pro"], "metadata entries are merged, not replaced")

        guard case .customer(let retrieved) = try stripe.retrieveCustomer(created.id) else {
            Issue.record("\(created.id) was retrieved as deleted")
            return
        }
        #expect(retrieved == updated)

        // Five customers share an email, two others do not; pages of two need three calls.
        var sharing: [String] = [created.id]
        for index in 2...5 {
            sharing.append(try stripe.createCustomer(CustomerCreate(email: "billing@acme.example", metadata: ["n": "\(index)"]),
                                                     idempotencyKey: "tollbooth-customer-c\(index)").id)
        }
        for index in 6...7 {
            _ = try stripe.createCustomer(CustomerCreate(email: "other\(index)@example.com"), idempotencyKey: "tollbooth-customer-c\(index)")
        }
        let first = try stripe.listCustomers(CustomerListQuery(email: "billing@acme.example", page: Page(limit: 2)))
        #expect(first.data.count == 2)
        #expect(first.hasMore)
        #expect(first.data.map(\.id) == Array(sharing.reversed().prefix(2)), "newest first")

        let before = try sim.requests(method: "GET", path: "/v1/customers").count
        let all = try stripe.allCustomers(CustomerListQuery(email: "billing@acme.example", page: Page(limit: 2)))
        #expect(all.map(\.id) == sharing.reversed(), "every customer with the email once, newest first")
        #expect(try sim.requests(method: "GET", path: "/v1/customers").count - before == 3, "pages of 2, 2 and 1")
        #expect(try stripe.allCustomers(CustomerListQuery(email: "nobody@example.com")).isEmpty)

        let missing = stripeError { () throws(StripeError) in try stripe.retrieveCustomer("cus_doesNotExist") }
        #expect(missing?.status == 404)
        #expect(missing?.code == "resource_missing")
        #expect(missing?.isTransient == false)
    }

    @Test func aSetupSessionCompletedSavesACardThatBecomesTheDefault() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "pay@example.com"), idempotencyKey: "cust-pay")

        let session = try stripe.createCheckoutSetupSession(
            CheckoutSetupSessionCreate(customer: customer.id, currency: .eur, successUrl: "https://tollbooth.example/done",
                                       cancelUrl: "https://tollbooth.example/cancel", clientReferenceId: "c1",
                                       metadata: ["tollbooth_customer": "c1"]),
            idempotencyKey: "checkout-c1")
        #expect(session.id.hasPrefix("cs_test_"))
        #expect(session.mode == "setup")
        #expect(session.status == "open")
        #expect(session.url != nil)
        #expect(session.customer == customer.id)
        #expect(session.currency == "eur")
        #expect(session.clientReferenceId == "c1")
        #expect(session.metadata == ["tollbooth_customer": "c1"])
        #expect(try stripe.retrieveCheckoutSession(session.id) == session)
        #expect(try stripe.listPaymentMethods(customer: customer.id).data.isEmpty)

        try sim.control("POST", "checkout/sessions/\(session.id)/complete", ["payment_method": "pm_card_visa"])
        let completed = try stripe.retrieveCheckoutSession(session.id)
        #expect(completed.status == "complete")
        #expect(completed.setupIntent?.hasPrefix("seti_") == true)
        #expect(completed.url == nil, "a complete session has no page to send anyone to")

        let methods = try stripe.listPaymentMethods(customer: customer.id, PaymentMethodListQuery(type: "card"))
        #expect(methods.data.count == 1)
        let card = try #require(methods.data.first)
        #expect(card.id.hasPrefix("pm_"))
        #expect(card.type == "card")
        #expect(card.customer == customer.id)
        #expect(card.card?.brand == "visa")
        #expect(card.card?.last4 == "4242")
        #expect(try stripe.retrievePaymentMethod(card.id, customer: customer.id) == card)
        #expect(try stripe.retrievePaymentMethod(card.id) == card)

        #expect(try stripe.updateCustomer(customer.id, CustomerUpdate(defaultPaymentMethod: card.id),
                                          idempotencyKey: "cust-pay-default").invoiceSettings?.defaultPaymentMethod == card.id)
        guard case .customer(let reread) = try stripe.retrieveCustomer(customer.id) else {
            Issue.record("\(customer.id) was retrieved as deleted")
            return
        }
        #expect(reread.invoiceSettings?.defaultPaymentMethod == card.id)

        // Another customer's card is not this customer's to make the default.
        let other = try stripe.createCustomer(CustomerCreate(email: "other@example.com"), idempotencyKey: "cust-other")
        let refused = stripeError { () throws(StripeError) in
            try stripe.updateCustomer(other.id, CustomerUpdate(defaultPaymentMethod: card.id), idempotencyKey: "cust-other-default")
        }
        #expect(refused?.status == 400)
        #expect(refused?.param == "invoice_settings[default_payment_method]")
    }

    @Test func aPortalSessionLinksTheCustomer() throws {
        let sim = try Simulator()
        let stripe = try sim.client()
        let customer = try stripe.createCustomer(CustomerCreate(email: "portal@example.com"), idempotencyKey: "cust-portal")
        let portal = try stripe.createPortalSession(PortalSessionCreate(customer: customer.id, returnUrl: "https://tollbooth.example/account"),
                                                    idempotencyKey: "portal-1")
        #expect(portal.id.hasPrefix("bps_"))
        #expect(portal.customer == customer.id)
        #expect(portal.returnUrl == "https://tollbooth.example/account")
        #expect(portal.url.hasPrefix(sim.baseURL), "the simulator's own page stands in for Stripe's portal")
        #expect(portal.livemode == false)
    }
}
