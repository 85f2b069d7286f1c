import ArgumentParser
import Billing
import Foundation
import Logging
import Pipeline
import Server
import Store

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP server: events, the entitlement check, usage.",
        discussion: """
            Listens on --listen (default: the settings' server.listen, 127.0.0.1:8080; port 0 takes \
            a free one) and prints "listening on http://HOST:PORT" once it does. Shares the \
            database with the command line and the cron jobs. Stops on SIGTERM or SIGINT after \
            answering what it accepted. With --at, the server's clock starts at that time and \
            moves on from there.
            """)

    @OptionGroup var options: GlobalOptions
    @Option(help: ArgumentHelp("HOST:PORT to listen on.", valueName: "host:port")) var listen: String?

    func validate() throws {
        if let listen, ListenAddress(listen) == nil {
            throw ValidationError("--listen must be HOST:PORT such as 127.0.0.1:8080, not \(listen)")
        }
    }

    func run() async throws {
        let context = try options.context()
        guard let address = ListenAddress(listen ?? context.settings.server.listen) else {
            throw InputError("server.listen must be HOST:PORT")
        }
        // Logs at info by default: one line per request is what an operator reads.
        var logger = Logger(label: "tollbooth.serve")
        logger.logLevel = Tollbooth.logLevel(default: .info)
        try await ServerApp.run(store: context.store, secretsFile: options.secretsFile, settings: context.settings, address: address, start: options.at?.instant,
                                logger: logger) { port in
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            printOut("listening on http://\(host):\(port)")
        }
    }
}

struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Service tokens for the gateway and operators' tools.",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token; prints it once (only its digest is kept).",
            discussion: "ingest: POST /v1/events. check: the check and entitlement routes. admin: every route.")

        @OptionGroup var options: GlobalOptions
        @Option(help: ArgumentHelp("ingest, check or admin.", valueName: "scope")) var scope: String
        @Option(help: ArgumentHelp("A name to tell it by.", valueName: "name")) var name = ""

        func validate() throws {
            guard TokenScope(rawValue: scope) != nil else { throw ValidationError("--scope must be ingest, check or admin, not \(scope)") }
        }

        func run() throws {
            let context = try options.context()
            let scope = TokenScope(rawValue: scope)!
            let token = Credentials.newToken(scope: scope, name: name)
            try context.store.insertToken(id: token.id, name: name, scope: scope, digest: token.digest, last4: token.last4, at: context.now)
            printOut(token.secret)
            printError("token \(token.id) (\(scope.rawValue)) made: it is shown this once; keep it in the gateway's secrets")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens: id, scope, name, last 4 characters, state.")

        @OptionGroup var options: GlobalOptions

        func run() throws {
            let tokens = try options.context().store.tokens()
            printOut("ID  SCOPE  NAME  LAST4  CREATED  STATE")
            for token in tokens {
                printOut("\(token.id)  \(token.scope.rawValue)  \(token.name.isEmpty ? "-" : token.name)  ...\(token.last4)  \(token.createdAt.rfc3339)  "
                         + (token.revokedAt.map { "revoked \($0.rfc3339)" } ?? "active"))
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: the server refuses it within a second.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The token's id (tok_...).", valueName: "id")) var id: String

        func run() throws {
            let context = try options.context()
            guard try context.store.tokenExists(id: id) else { throw InputError("no token \(id): `tollbooth tokens list` shows the ids") }
            guard try context.store.revokeToken(id: id, at: context.now) else { throw InputError("token \(id) is revoked already") }
            printOut("revoked \(id)")
        }
    }
}

extension CustomersCommand {
    struct APIKeyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "api-key",
            abstract: "A customer's API keys: the keys its API consumers send through the gateway.",
            subcommands: [Create.self, List.self, Revoke.self])

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make a key for a customer; prints it once (only its digest is kept).",
                discussion: "The key's id (key_...) is also one of the customer's usage subjects, so events may name it.")

            @OptionGroup var options: GlobalOptions
            @Argument(help: ArgumentHelp("The customer's key.", valueName: "customer")) var customer: String

            func run() throws {
                let context = try options.context()
                let key = Credentials.newAPIKey(production: context.settings.environment == .production)
                try context.store.insertAPIKey(id: key.id, customerKey: customer, digest: key.digest, last4: key.last4, at: context.now)
                printOut(key.secret)
                printError("API key \(key.id) made for \(customer): it is shown this once")
            }
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List a customer's keys: id, last 4 characters, state.")

            @OptionGroup var options: GlobalOptions
            @Argument(help: ArgumentHelp("The customer's key.", valueName: "customer")) var customer: String

            func run() throws {
                let store = try options.context().store
                guard try store.customer(key: customer) != nil else { throw InputError("no customer \(customer)") }
                printOut("ID  LAST4  CREATED  STATE")
                for key in try store.apiKeys(customerKey: customer) {
                    printOut("\(key.id)  ...\(key.last4)  \(key.createdAt.rfc3339)  " + (key.revokedAt.map { "revoked \($0.rfc3339)" } ?? "active"))
                }
            }
        }

        struct Revoke: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Revoke a key: the server refuses it within a second.")

            @OptionGroup var options: GlobalOptions
            @Argument(help: ArgumentHelp("The customer's key.", valueName: "customer")) var customer: String
            @Argument(help: ArgumentHelp("The key's id (key_...).", valueName: "id")) var id: String

            func run() throws {
                let context = try options.context()
                guard try context.store.revokeAPIKey(id: id, customerKey: customer, at: context.now) else {
                    throw InputError("customer \(customer) has no active key \(id): `tollbooth customers api-key list \(customer)` shows them")
                }
                printOut("revoked \(id)")
            }
        }
    }
}

extension CustomersCommand {
    struct UsageLinkCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "usage-link",
            abstract: "A signed link to a customer's usage page; prints the URL.",
            discussion: """
                The link opens the customer's usage page at `serve` (GET /portal/usage) until it expires: \
                server.publicUrl, else http:// + server.listen, then /portal/usage?token=... The token is \
                signed (HMAC-SHA256) with a key kept in the database; anyone holding the link sees the page.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: ArgumentHelp("The customer's key.", valueName: "customer")) var customer: String
        @Option(help: ArgumentHelp("How long the link works: an ISO 8601 duration, at most P366D.", valueName: "duration"))
        var ttl = "P7D"

        func validate() throws {
            guard let duration = ISODuration(ttl), !duration.isZero else {
                throw ValidationError("--ttl must be an ISO 8601 duration such as P7D or PT12H, not \(ttl)")
            }
        }

        func run() throws {
            let context = try options.context()
            do {
                let link = try UsageLink.make(store: context.store, customerKey: customer, ttl: ISODuration(ttl)!, base: UsageLink.base(context.settings),
                                              now: context.now)
                printOut(link.url)
                printError("the link works until \(link.expiresAt.rfc3339)")
            } catch let error as UsageLinkError {
                throw InputError(error.description)
            }
        }
    }
}
