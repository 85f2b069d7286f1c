// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Tollbooth",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tollbooth", targets: ["tollbooth"]),
        .executable(name: "stripe-sim", targets: ["stripe-sim"]),
        .library(name: "Billing", targets: ["Billing"]),
        .library(name: "Metering", targets: ["Metering"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // System libraries, from Debian's -dev packages (scripts/setup.sh installs them).
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CXLSXWriter", path: "Sources/CXLSXWriter", pkgConfig: "xlsxwriter",
                       providers: [.apt(["libxlsxwriter-dev"])]),
        // The compiler's prefetch builtin, header only.
        .systemLibrary(name: "CPrefetch", path: "Sources/CPrefetch"),

        // Pure billing domain: money, catalog, periods, pricing, proration, tax, access. Foundation only.
        .target(name: "Billing", exclude: ["README.md", "Catalog/README.md", "Pricing/README.md",
                                           "Subscriptions/README.md", "Tax/README.md", "Access/README.md"]),
        // The store: one protocol per repository and a transaction (Repositories/), implemented
        // over SQLite (SQLite/: the connection, schema, migrations) and in memory (Memory/, for
        // tests); Postgres/ holds PostgreSQL's connection (postgres-nio) and schema.
        .target(name: "Store", dependencies: [
            "Billing", "CSQLite",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["README.md"]),
        // CloudEvents parsing, meter matching, de-duplication, usage segments, quota checks.
        .target(name: "Metering", dependencies: ["Billing", "Store", "CPrefetch"], exclude: ["README.md"]),
        // Typed Stripe client over libcurl: form encoding, retries, pacing, errors, webhook signatures.
        .target(name: "Stripe", dependencies: [
            "Billing", "CCurl",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["README.md"]),
        // Finance reports: xlsx workbooks (libxlsxwriter, constant memory) and CSV.
        .target(name: "Reports", dependencies: ["Billing", "Store", "CXLSXWriter"], exclude: ["README.md"]),
        // The staged bill run and its job ledger.
        .target(name: "Pipeline", dependencies: ["Billing", "Store", "Stripe", .product(name: "Logging", package: "swift-log"),
                                                 .product(name: "Crypto", package: "swift-crypto")],
                exclude: ["README.md"]),
        // The demo's sample data and story, the benchmarks' preparation and the event generator:
        // what shows the product off or measures it, kept out of the product's modules.
        .target(name: "Showcase", dependencies: ["Billing", "Store", "Metering", "Pipeline", "Reports", "Stripe",
                                                 .product(name: "Logging", package: "swift-log")],
                exclude: ["README.md"]),
        // The HTTP server (`tollbooth serve`): events, the entitlement check, credentials, usage.
        .target(name: "Server", dependencies: [
            "Billing", "Store", "Metering", "Stripe", "Pipeline",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ], exclude: ["README.md"], resources: [.copy("openapi.yaml")]),
        // The command-line tool: parses arguments, calls the modules, maps errors to exit codes.
        .executableTarget(name: "tollbooth", dependencies: [
            "Billing", "Store", "Metering", "Pipeline", "Reports", "Stripe", "Server", "Showcase",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["README.md"]),
        // The Stripe simulator's logic: HTTP/1.1 server, form decoding, objects, rules, webhooks.
        .target(name: "StripeSim", dependencies: ["CCurl", .product(name: "Crypto", package: "swift-crypto")],
                exclude: ["README.md"]),
        // The `stripe-sim` executable: parses flags and starts the simulator's server.
        .executableTarget(name: "stripe-sim", dependencies: ["StripeSim"]),

        // What several test targets share: finding built executables, starting stripe-sim,
        // recording log lines, reading workbooks with openpyxl, Python and Debian tools
        // (measuring screenshots with Pillow, Schemathesis, Chromium).
        .target(name: "TestSupport", dependencies: [.product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport",
                exclude: ["read_workbook.py", "measure_chart.py", "stripe_signatures.py"]),
        .testTarget(name: "BillingTests", dependencies: [
            "Billing", .product(name: "PropertyBased", package: "swift-property-based"),
        ]),
        .testTarget(name: "StoreTests", dependencies: ["Billing", "Store", "TestSupport"]),
        // Opens the generated workbooks with openpyxl, in a virtual environment made once per run;
        // compares CSV exports with the golden files in Tests/ReportsTests/Golden.
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Billing", "Store", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "MeteringTests", dependencies: ["Metering", "Billing", "Store", "Showcase"]),
        // The server's pieces without HTTP (the end-to-end tests drive it over loopback).
        .testTarget(name: "ServerTests", dependencies: ["Server", "Billing", "Metering", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "PipelineTests", dependencies: ["Billing", "Store", "Pipeline", "Stripe", .product(name: "Logging", package: "swift-log")]),
        // Reads its Stripe object fixtures from Tests/Fixtures/stripe by #filePath.
        .testTarget(name: "StripeTests", dependencies: ["Stripe", "Billing", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        // Runs the built `tollbooth` executable as a subprocess; depends on no module of the
        // product (only on TestSupport) so it tests the command line exactly as a user meets it.
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // Unit tests of the simulator's parsers, and the built `stripe-sim` driven over loopback HTTP.
        .testTarget(name: "StripeSimTests", dependencies: ["StripeSim", "TestSupport"], exclude: ["Fixtures"]),
        // The real Stripe client (libcurl) against the built `stripe-sim`, one simulator per test.
        .testTarget(name: "StripeIntegrationTests", dependencies: ["Stripe", "Billing", "TestSupport", .product(name: "Logging", package: "swift-log")],
                    exclude: ["README.md"]),
    ],
    swiftLanguageModes: [.v6]
)
