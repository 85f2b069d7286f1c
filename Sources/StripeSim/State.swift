/// Objects of one kind in the order they were created; lists read them newest first, as
/// Stripe's do.
struct Table<Item: Sendable>: Sendable {
    private(set) var order: [String] = []
    private var items: [String: Item] = [:]

    subscript(id: String) -> Item? {
        get { items[id] }
        set {
            if let newValue {
                if items[id] == nil { order.append(id) }
                items[id] = newValue
            } else if items.removeValue(forKey: id) != nil {
                order.removeAll { $0 == id }
            }
        }
    }

    var count: Int { order.count }

    /// Lazily, so a filtered, paged list reads only what it shows.
    var newestFirst: LazyMapSequence<ReversedCollection<[String]>, Item> {
        order.reversed().lazy.map { [items] in items[$0]! }
    }

    var oldestFirst: LazyMapSequence<[String], Item> { order.lazy.map { [items] in items[$0]! } }
}

/// Everything one account holds. Keys of another account never see it.
struct AccountState: Sendable {
    var account: Account
    var customers = Table<Customer>()
    var paymentMethods = Table<PaymentMethod>()
    var checkoutSessions = Table<CheckoutSession>()
    var portalSessions = Table<PortalSession>()
    var invoices = Table<Invoice>()
    var invoiceItems = Table<InvoiceItem>()
    var taxRates: [TaxRate] = []
    var taxCalculations = Table<TaxCalculation>()
    var taxTransactions = Table<TaxTransaction>()
    var webhookEndpoints = Table<WebhookEndpoint>()
    var events = Table<Event>()
    var idempotency: [String: StoredResponse] = [:]
    /// Events made by the call being served, to deliver once it is done.
    var undelivered: [Event] = []
    var livemode: Bool

    init(account: Account, livemode: Bool) {
        self.account = account
        self.livemode = livemode
    }

    /// Stores an event for `object` and queues it for every endpoint that wants its type.
    mutating func emit(_ type: String, _ object: JSON, context: RequestContext) {
        let wanted = webhookEndpoints.oldestFirst.filter { $0.wants(type) }.count
        let event = Event(id: Identifiers.make("evt_", 24), type: type, created: context.now, object: object,
                          requestId: context.requestId, idempotencyKey: context.idempotencyKey,
                          pendingWebhooks: Int64(wanted))
        events[event.id] = event
        undelivered.append(event)
    }

    func invoiceJSON(_ invoice: Invoice) -> JSON {
        invoice.json(livemode: livemode, accountName: account.displayName)
    }

    func customer(_ id: String, param: String = "customer") throws(APIError) -> Customer {
        guard let customer = customers[id] else { throw .noSuch("customer", id, param: param) }
        return customer
    }

    func invoice(_ id: String, param: String = "invoice") throws(APIError) -> Invoice {
        guard let invoice = invoices[id] else { throw .noSuch("invoice", id, param: param) }
        return invoice
    }
}

/// A response kept for an Idempotency-Key.
struct StoredResponse: Sendable {
    var method: String
    var path: String
    var body: [UInt8]
    var status: Int
    var response: [UInt8]
    var requestId: String
    var created: Int64
}

/// What a handler knows about the call it serves.
struct RequestContext: Sendable {
    var requestId: String
    var idempotencyKey: String?
    var now: Int64
    var params: Params
    /// Path parameters in order (`/v1/invoices/{invoice}/lines/{line}` -> [invoice, line]).
    var arguments: [String]
    var taxRules: [TaxRule]
    /// Where links to hosted pages point: the simulator's own address.
    var publicBase: String

    var expand: [String] { params.strings("expand") ?? [] }

    func argument(_ index: Int) -> String { arguments[index] }
}

/// Random ids in Stripe's style: a prefix and base-62 characters.
enum Identifiers {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    static func make(_ prefix: String, _ length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    /// An invoice prefix: 8 upper-case letters and digits, as Stripe gives a customer.
    static func invoicePrefix() -> String {
        var generator = SystemRandomNumberGenerator()
        let upper = Array("0123456789ABCDEF")
        return String((0..<8).map { _ in upper[Int(generator.next() % 16)] })
    }
}

/// Stripe's list paging over objects in list order (newest first, or a line order): `limit`
/// (1 to 100, default 10), `starting_after` (the page after an object) and `ending_before` (the
/// page before one). Reads the sequence only as far as the page needs.
func page<Items: Sequence>(_ items: Items, id: (Items.Element) -> String, noun: String, context: RequestContext, url: String,
                           render: (Items.Element) -> JSON) throws(APIError) -> JSON {
    let params = context.params
    var limit = 10
    if let text = params.string("limit") {
        guard let value = Int(text), (1...100).contains(value) else {
            throw .invalidRequest("Invalid limit: must be between 1 and 100", param: "limit")
        }
        limit = value
    }
    var iterator = items.makeIterator()
    if let before = params.text("ending_before") {
        // The `limit` objects just before `before`, and whether any come before them.
        var window: [Items.Element] = []
        var dropped = false
        while let item = iterator.next() {
            if id(item) == before {
                return .list(window.map(render), hasMore: dropped, url: url)
            }
            window.append(item)
            if window.count > limit {
                window.removeFirst()
                dropped = true
            }
        }
        throw .noSuch(noun, before, param: "ending_before")
    }
    if let after = params.text("starting_after") {
        var found = false
        while let item = iterator.next() {
            if id(item) == after {
                found = true
                break
            }
        }
        guard found else { throw .noSuch(noun, after, param: "starting_after") }
    }
    var shown: [Items.Element] = []
    while shown.count <= limit, let item = iterator.next() { shown.append(item) }
    let hasMore = shown.count > limit
    return .list(shown.prefix(limit).map(render), hasMore: hasMore, url: url)
}

/// Applies a metadata parameter: `metadata[k]=v` sets, `metadata[k]=` removes a key,
/// `metadata=` removes them all.
func merged(_ metadata: [String: String], with value: FormValue?) -> [String: String] {
    guard let value else { return metadata }
    if value.string == "" { return [:] }
    var result = metadata
    for (key, entry) in value.object ?? [:] {
        if let text = entry.string, !text.isEmpty { result[key] = text } else { result.removeValue(forKey: key) }
    }
    return result
}
