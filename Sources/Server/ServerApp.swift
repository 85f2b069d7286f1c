import Billing
import Foundation
import Hummingbird
import Logging
import Metrics
import Pipeline
import Prometheus
import Store

/// The OpenAPI 3.1 document of every route (Sources/Server/openapi.yaml), served at /openapi.yaml.
enum OpenAPIDocument {
    static let text: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "openapi: 3.1.0\n" }
        return text
    }()
}

/// `tollbooth serve`: builds the application and runs it until SIGTERM or SIGINT, after which
/// it answers what it accepted and stops.
public enum ServerApp {
    /// Runs the server on `address`; `onListening` gets the bound port (useful with port 0).
    public static func run(store: any Store, secretsFile: SecretsFile, settings: Settings, address: ListenAddress, start: Instant?, logger: Logger,
                           onListening: @escaping @Sendable (Int) -> Void) async throws {
        // A 202 promises the events survive a crash of the machine, not only of the process:
        // each group commit's write-ahead log is synced before its requests are answered, off
        // the store's queue (`WALSync`), so the connection itself does not sync at commit.
        try store.commitWithoutSync()
        let live = try LiveServer(store: store, settings: settings, start: start, logger: logger)
        // Hummingbird's request metrics go through swift-metrics into the same registry.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: live.metrics.registry))
        let router = Router(context: ServerContext.self)
        let routes = RouteTable()
        router.add(middleware: RequestLogMiddleware(routes: routes))
        router.add(middleware: MetricsMiddleware())
        let stripe = try StripeLink(live: live, secretsFile: secretsFile)
        Routes(live: live, stripe: stripe, table: routes).register(on: router)
        let checks = CheckService(live: live, logger: logger)
        let app = Application(router: router, server: .http1(checks: checks),
                              configuration: .init(address: .hostname(address.host, port: address.port), serverName: "tollbooth"),
                              onServerRunning: { channel in onListening(channel.localAddress?.port ?? address.port) },
                              logger: logger)
        await live.foldUsageLog()
        let watcher = Task { await live.watch() }
        let inbox = Task { await stripe.watch() }
        defer {
            watcher.cancel()
            inbox.cancel()
        }
        try await app.runService()
        await live.foldUsageLog()
    }
}
