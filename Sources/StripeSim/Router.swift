/// One API operation: its method and path pattern, the permission a restricted key needs, and
/// the handler that serves it.
struct Route: Sendable {
    typealias Handler = @Sendable (inout AccountState, RequestContext) throws(APIError) -> JSON

    var method: String
    var pattern: [String]
    var permission: Permission
    var handler: Handler

    /// The key of the operation's parameter shapes: "POST /v1/invoices/{invoice}/pay".
    var operation: String { "\(method) /" + pattern.joined(separator: "/") }

    init(_ method: String, _ path: String, _ resource: Permission.Resource, _ handler: @escaping Handler) {
        self.method = method
        pattern = path.split(separator: "/").map(String.init)
        permission = Permission(resource, write: method != "GET")
        self.handler = handler
    }

    /// The path parameters when `segments` fit the pattern.
    func match(_ segments: [Substring]) -> [String]? {
        guard segments.count == pattern.count else { return nil }
        var arguments: [String] = []
        for (segment, expected) in zip(segments, pattern) {
            if expected.hasPrefix("{") {
                guard !segment.isEmpty else { return nil }
                arguments.append(String(segment))
            } else if segment != expected {
                return nil
            }
        }
        return arguments
    }
}

enum Router {
    static let routes: [Route] = [
        Route("GET", "/v1/account", .account, AccountAPI.retrieve),

        Route("POST", "/v1/customers", .customer, CustomerAPI.create),
        Route("GET", "/v1/customers", .customer, CustomerAPI.list),
        Route("GET", "/v1/customers/{customer}", .customer, CustomerAPI.retrieve),
        Route("POST", "/v1/customers/{customer}", .customer, CustomerAPI.update),
        Route("GET", "/v1/customers/{customer}/payment_methods", .paymentMethod, CustomerAPI.listPaymentMethods),
        Route("GET", "/v1/customers/{customer}/payment_methods/{payment_method}", .paymentMethod,
              CustomerAPI.retrievePaymentMethod),
        Route("GET", "/v1/payment_methods/{payment_method}", .paymentMethod, CustomerAPI.retrieveAnyPaymentMethod),

        Route("POST", "/v1/checkout/sessions", .checkoutSession, SessionAPI.createCheckout),
        Route("GET", "/v1/checkout/sessions/{session}", .checkoutSession, SessionAPI.retrieveCheckout),
        Route("POST", "/v1/billing_portal/sessions", .billingPortalSession, SessionAPI.createPortal),

        Route("POST", "/v1/invoices", .invoice, InvoiceAPI.create),
        Route("GET", "/v1/invoices", .invoice, InvoiceAPI.list),
        Route("GET", "/v1/invoices/{invoice}", .invoice, InvoiceAPI.retrieve),
        Route("POST", "/v1/invoices/{invoice}", .invoice, InvoiceAPI.update),
        Route("POST", "/v1/invoices/{invoice}/finalize", .invoice, InvoiceAPI.finalize),
        Route("POST", "/v1/invoices/{invoice}/pay", .invoice, InvoiceAPI.pay),
        Route("POST", "/v1/invoices/{invoice}/void", .invoice, InvoiceAPI.void),
        Route("POST", "/v1/invoices/{invoice}/mark_uncollectible", .invoice, InvoiceAPI.markUncollectible),
        Route("GET", "/v1/invoices/{invoice}/lines", .invoice, InvoiceAPI.listLines),
        Route("POST", "/v1/invoices/{invoice}/lines/{line_item_id}", .invoice, InvoiceAPI.updateLine),
        Route("POST", "/v1/invoices/{invoice}/update_lines", .invoice, InvoiceAPI.updateLines),
        Route("POST", "/v1/invoices/{invoice}/add_lines", .invoice, InvoiceAPI.addLines),
        Route("POST", "/v1/invoiceitems", .invoice, InvoiceItemAPI.create),
        Route("GET", "/v1/invoiceitems", .invoice, InvoiceItemAPI.list),
        Route("GET", "/v1/invoiceitems/{invoiceitem}", .invoice, InvoiceItemAPI.retrieve),
        Route("DELETE", "/v1/invoiceitems/{invoiceitem}", .invoice, InvoiceItemAPI.delete),

        Route("POST", "/v1/tax/calculations", .taxCalculation, TaxAPI.createCalculation),
        Route("GET", "/v1/tax/calculations/{calculation}", .taxCalculation, TaxAPI.retrieveCalculation),
        Route("GET", "/v1/tax/calculations/{calculation}/line_items", .taxCalculation, TaxAPI.listCalculationLines),
        Route("POST", "/v1/tax/transactions/create_from_calculation", .taxCalculation, TaxAPI.createTransaction),
        Route("POST", "/v1/tax/transactions/create_reversal", .taxCalculation, TaxAPI.createReversal),
        Route("GET", "/v1/tax/transactions/{transaction}", .taxCalculation, TaxAPI.retrieveTransaction),

        Route("POST", "/v1/webhook_endpoints", .webhookEndpoint, WebhookAPI.create),
        Route("GET", "/v1/webhook_endpoints", .webhookEndpoint, WebhookAPI.list),
        Route("GET", "/v1/webhook_endpoints/{webhook_endpoint}", .webhookEndpoint, WebhookAPI.retrieve),
        Route("POST", "/v1/webhook_endpoints/{webhook_endpoint}", .webhookEndpoint, WebhookAPI.update),
        Route("DELETE", "/v1/webhook_endpoints/{webhook_endpoint}", .webhookEndpoint, WebhookAPI.delete),

        Route("GET", "/v1/events", .event, EventAPI.list),
        Route("GET", "/v1/events/{id}", .event, EventAPI.retrieve),
    ]

    /// The route for `method path` and its path parameters. A literal segment beats a parameter
    /// (`/v1/tax/transactions/create_reversal` before `/v1/tax/transactions/{transaction}`).
    static func match(method: String, path: String) -> (Route, [String])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
        var best: (Route, [String], Int)?
        for route in routes where route.method == method {
            guard let arguments = route.match(segments) else { continue }
            if best == nil || arguments.count < best!.2 { best = (route, arguments, arguments.count) }
        }
        return best.map { ($0.0, $0.1) }
    }
}
