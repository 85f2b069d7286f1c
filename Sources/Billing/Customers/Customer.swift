import Foundation

/// A customer: who is billed, in which currency, where (for tax), and which usage subjects are
/// theirs.
public struct Customer: Hashable, Sendable {
    public struct Address: Hashable, Sendable, Codable {
        public var country: String?
        public var postalCode: String?
        public var state: String?
        public var city: String?
        public var line1: String?

        public init(country: String? = nil, postalCode: String? = nil, state: String? = nil, city: String? = nil, line1: String? = nil) {
            self.country = country
            self.postalCode = postalCode
            self.state = state
            self.city = city
            self.line1 = line1
        }
    }

    public struct TaxID: Hashable, Sendable, Codable {
        public var type: String
        public var value: String

        public init(type: String, value: String) {
            self.type = type
            self.value = value
        }
    }

    public var key: String
    public var name: String
    public var email: String?
    public var currency: Currency?
    public var billingAddress: Address
    public var taxExempt: TaxExemption
    public var taxIds: [TaxID]
    /// Usage-attribution keys: an event's `subject` names one of them.
    public var subjectKeys: [String]
    public var metadata: [String: String]

    public init(key: String, name: String, email: String? = nil, currency: Currency? = nil,
                billingAddress: Address = Address(), taxExempt: TaxExemption = .none, taxIds: [TaxID] = [],
                subjectKeys: [String]? = nil, metadata: [String: String] = [:]) {
        self.key = key
        self.name = name
        self.email = email
        self.currency = currency
        self.billingAddress = billingAddress
        self.taxExempt = taxExempt
        self.taxIds = taxIds
        self.subjectKeys = subjectKeys ?? [key]
        self.metadata = metadata
    }
}

/// Reads and writes the customers JSON of DESIGN.md ("Customers").
public enum CustomerReader {
    /// Reads a JSON array of customers; every problem is listed, each naming the customer.
    public static func read(_ data: Data) throws(CatalogError) -> [Customer] {
        let root: JSONValue
        do { root = try JSONValue.parse(data) } catch {
            throw CatalogError(problems: [CatalogProblem(location: "customers", message: "not valid JSON: \(error)")])
        }
        guard case .array(let items) = root else {
            throw CatalogError(problems: [CatalogProblem(location: "customers", message: "must be a JSON array of customers")])
        }
        var problems: [CatalogProblem] = []
        var customers: [Customer] = []
        var seen: Set<String> = []
        for (index, item) in items.enumerated() {
            var where_ = "customers[\(index)]"
            guard case .object = item else {
                problems.append(CatalogProblem(location: where_, message: "must be an object"))
                continue
            }
            func text(_ name: String, required: Bool = false) -> String? {
                switch item[name] {
                case .string(let s)?: return s
                case nil, .null?:
                    if required { problems.append(CatalogProblem(location: where_, message: "\(name) is required")) }
                    return nil
                case _?:
                    problems.append(CatalogProblem(location: where_, message: "\(name) must be a string"))
                    return nil
                }
            }
            let key = text("key", required: true) ?? ""
            if !key.isEmpty { where_ = "customer \(key)" }
            if !key.isEmpty, !CatalogValidator.isValidKey(key) {
                problems.append(CatalogProblem(location: where_, message: "key must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most 64 characters"))
            }
            if !key.isEmpty, !seen.insert(key).inserted {
                problems.append(CatalogProblem(location: where_, message: "appears twice in the file"))
            }
            let name = text("name", required: true) ?? key
            let email = text("email")
            var currency: Currency?
            if let code = text("currency") {
                currency = Currency(code: code)
                if currency == nil { problems.append(CatalogProblem(location: where_, message: "currency \(code) is not a known ISO 4217 code")) }
            }
            var exemption = TaxExemption.none
            switch item["taxExempt"] {
            case .bool(let flag)?: exemption = TaxExemption.fromCustomerJSON(flag)
            case .string(let value)?:
                if let parsed = TaxExemption.fromCustomerJSON(value) { exemption = parsed } else {
                    problems.append(CatalogProblem(location: where_, message: "taxExempt must be none, exempt or reverse, not \(value)"))
                }
            case nil, .null?: break
            case _?: problems.append(CatalogProblem(location: where_, message: "taxExempt must be none, exempt or reverse"))
            }
            var address = Customer.Address()
            if let a = item["billingAddress"], case .object = a {
                func part(_ name: String) -> String? { if case .string(let s)? = a[name] { return s } else { return nil } }
                address = Customer.Address(country: part("country")?.uppercased(), postalCode: part("postalCode"),
                                           state: part("state"), city: part("city"), line1: part("line1"))
            }
            var taxIds: [Customer.TaxID] = []
            if case .array(let ids)? = item["taxIds"] {
                for id in ids {
                    if case .string(let type)? = id["type"], case .string(let value)? = id["value"] {
                        taxIds.append(Customer.TaxID(type: type, value: value))
                    } else {
                        problems.append(CatalogProblem(location: where_, message: "each of taxIds needs a string type and value"))
                    }
                }
            }
            var subjects: [String]?
            if case .array(let keys)? = item["usageAttribution"]?["subjectKeys"] {
                subjects = keys.compactMap { if case .string(let s) = $0, !s.isEmpty { return s } else { return nil } }
                if subjects?.count != keys.count {
                    problems.append(CatalogProblem(location: where_, message: "usageAttribution.subjectKeys must be non-empty strings"))
                }
            }
            var metadata: [String: String] = [:]
            if case .object(let m)? = item["metadata"] {
                for (k, v) in m {
                    switch v {
                    case .string(let s): metadata[k] = s
                    case .number(let n): metadata[k] = n
                    case .bool(let b): metadata[k] = b ? "true" : "false"
                    case .null, .array, .object:
                        problems.append(CatalogProblem(location: where_, message: "metadata.\(k) must be a string, number or boolean"))
                    }
                }
            }
            customers.append(Customer(key: key, name: name, email: email, currency: currency, billingAddress: address,
                                      taxExempt: exemption, taxIds: taxIds, subjectKeys: subjects, metadata: metadata))
        }
        var subjectOwner: [String: String] = [:]
        for customer in customers {
            for subject in customer.subjectKeys {
                if let other = subjectOwner[subject], other != customer.key {
                    problems.append(CatalogProblem(location: "customer \(customer.key)", message: "subject key \(subject) already belongs to customer \(other)"))
                }
                subjectOwner[subject] = customer.key
            }
        }
        guard problems.isEmpty else { throw CatalogError(problems: problems) }
        return customers
    }

    /// The customer as canonical JSON (sorted keys), the form the store keeps.
    public static func json(_ customer: Customer) -> Data {
        var object: [String: Any] = ["key": customer.key, "name": customer.name, "taxExempt": customer.taxExempt.rawValue,
                                     "usageAttribution": ["subjectKeys": customer.subjectKeys], "metadata": customer.metadata]
        if let email = customer.email { object["email"] = email }
        if let currency = customer.currency { object["currency"] = currency.code }
        var address: [String: String] = [:]
        let a = customer.billingAddress
        for (k, v) in [("country", a.country), ("postalCode", a.postalCode), ("state", a.state), ("city", a.city), ("line1", a.line1)] {
            if let v { address[k] = v }
        }
        object["billingAddress"] = address
        if !customer.taxIds.isEmpty { object["taxIds"] = customer.taxIds.map { ["type": $0.type, "value": $0.value] } }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }
}
