import Foundation

/// One thing wrong with a catalog: where it is and what to do about it.
///
/// `location` names the record from the outside in, then the field, e.g.
/// `plan pro v1, phase default, rate card api_calls, price.tiers[2].upToAmount`.
/// Records are named by their key (`meter tokens`, `feature api_calls`, `plan pro v2`,
/// `phase trial`, `rate card base_fee`), or by their position (`plans[3]`) when the key is missing.
public struct CatalogProblem: Hashable, Sendable, CustomStringConvertible {
    public let location: String
    public let message: String

    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// A catalog that cannot be used, with every problem found in it.
public struct CatalogError: Error, Sendable, CustomStringConvertible {
    public let problems: [CatalogProblem]

    public init(problems: [CatalogProblem]) {
        self.problems = problems
    }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return (["The catalog has \(count):"] + problems.map(\.description)).joined(separator: "\n")
    }
}

/// The record part of a location, shared by the reader and the validator so both name a
/// record the same way.
struct CatalogLocation: Hashable, Sendable {
    let text: String

    static let catalog = CatalogLocation(text: "catalog")

    static func meter(_ slug: String, index: Int) -> CatalogLocation {
        CatalogLocation(text: slug.isEmpty ? "meters[\(index)]" : "meter \(slug)")
    }

    static func feature(_ key: String, index: Int) -> CatalogLocation {
        CatalogLocation(text: key.isEmpty ? "features[\(index)]" : "feature \(key)")
    }

    static func plan(_ key: String, version: Int, index: Int) -> CatalogLocation {
        CatalogLocation(text: key.isEmpty ? "plans[\(index)]" : "plan \(key) v\(version)")
    }

    func phase(_ key: String, index: Int) -> CatalogLocation {
        CatalogLocation(text: text + ", " + (key.isEmpty ? "phases[\(index)]" : "phase \(key)"))
    }

    func rateCard(_ key: String, index: Int) -> CatalogLocation {
        CatalogLocation(text: text + ", " + (key.isEmpty ? "rateCards[\(index)]" : "rate card \(key)"))
    }

    /// A problem with `field` (a path such as `price.tiers[2].upToAmount`) of this record.
    func problem(_ field: String, _ message: String) -> CatalogProblem {
        CatalogProblem(location: field.isEmpty ? text : "\(text), \(field)", message: message)
    }
}
