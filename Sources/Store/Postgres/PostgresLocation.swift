import Foundation

/// Where a PostgreSQL database is, from `postgres://USER:PASSWORD@HOST:PORT/DB` (also
/// `postgresql://`; the port defaults to 5432). Its description leaves the password out, so a
/// location can go into logs and errors.
public struct PostgresLocation: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(url text: String) throws {
        guard PostgresLocation.isURL(text), let components = URLComponents(string: text),
              let host = components.host, !host.isEmpty else {
            throw StoreInputError("not a PostgreSQL URL: expected postgres://USER:PASSWORD@HOST:PORT/DB")
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreInputError("the PostgreSQL URL names no user: postgres://USER:PASSWORD@HOST:PORT/DB")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreInputError("the PostgreSQL URL names no database: postgres://USER:PASSWORD@HOST:PORT/DB")
        }
        self.host = host
        port = components.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
    }

    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }
}
