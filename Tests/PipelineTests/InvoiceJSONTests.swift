import Billing
import Foundation
import Pipeline
@testable import Store
import Testing

@Suite struct InvoiceJSONTests {
    static func invoice(currency: Currency, amount: String, tax: String) -> StoredInvoice {
        let start = Instant(rfc3339: "2026-01-01T00:00:00Z")!, end = Instant(rfc3339: "2026-02-01T00:00:00Z")!
        let line = InvoiceLine(kind: .fee, subscriptionId: "sub_1", rateCardKey: "base_fee", description: "Starter \"monthly\" fee",
                               period: Period(start: start, end: end), amount: Decimal(exactly: amount)!)
        var withTax = line
        withTax.taxAmount = Decimal(exactly: tax)!
        withTax.quantity = 1
        return StoredInvoice(id: "inv_acme_20260101", customerKey: "acme", currency: currency, billDate: start, status: .failed,
                             subtotal: Decimal(exactly: amount)!, tax: Decimal(exactly: tax)!,
                             total: Decimal(exactly: amount)! + Decimal(exactly: tax)!, periodStart: start, periodEnd: end,
                             taxNote: nil, stripeInvoiceId: nil, number: nil, hostedInvoiceUrl: nil, invoicePdf: nil,
                             failure: .init(stage: "issue", message: "card declined", stripeRequestId: "req_1"),
                             lines: [StoredLine(id: "inv_acme_20260101_1", line: withTax)])
    }

    @Test func amountsAreStringsWithTheCurrencysDecimals() {
        let json = InvoiceJSON.invoice(Self.invoice(currency: .usd, amount: "12.3", tax: "2.337"))
        #expect(json["subtotal"] == .string("12.30"))
        #expect(json["tax"] == .string("2.34"))
        #expect(json["total"] == .string("14.64"))
        let yen = InvoiceJSON.invoice(Self.invoice(currency: .jpy, amount: "500", tax: "50"))
        #expect(yen["total"] == .string("550"))
    }

    @Test func theWholeInvoiceRendersExactly() {
        let json = InvoiceJSON.invoice(Self.invoice(currency: .usd, amount: "29", tax: "0"))
        #expect(json.rendered == """
            {
              "billDate": "2026-01-01T00:00:00Z",
              "currency": "USD",
              "customerKey": "acme",
              "failure": {
                "message": "card declined",
                "stage": "issue",
                "stripeRequestId": "req_1"
              },
              "hostedInvoiceUrl": null,
              "id": "inv_acme_20260101",
              "invoicePdf": null,
              "lines": [
                {
                  "amount": "29.00",
                  "description": "Starter \\"monthly\\" fee",
                  "featureKey": null,
                  "kind": "fee",
                  "periodEnd": "2026-02-01T00:00:00Z",
                  "periodStart": "2026-01-01T00:00:00Z",
                  "quantity": "1",
                  "rateCardKey": "base_fee",
                  "subscriptionId": "sub_1",
                  "taxAmount": "0.00"
                }
              ],
              "number": null,
              "periodEnd": "2026-02-01T00:00:00Z",
              "periodStart": "2026-01-01T00:00:00Z",
              "status": "failed",
              "stripeInvoiceId": null,
              "subtotal": "29.00",
              "tax": "0.00",
              "total": "29.00"
            }
            """)
    }

    @Test func jsonTextIsEscapedAndParsedBack() throws {
        let value = JSONValue.object(["a": .string("line\nbreak \u{1}"), "n": .number("-0.5"), "b": .bool(true), "z": .array([])])
        #expect(value.compact == #"{"a":"line\nbreak \u0001","b":true,"n":-0.5,"z":[]}"#)
        #expect(try JSONValue.parse(Data(value.compact.utf8)) == value)
    }
}
