// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Tollbooth",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Billing", targets: ["Billing"]),
        .library(name: "Metering", targets: ["Metering"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // Pure billing domain: money, catalog, periods, pricing, proration, tax, access. Foundation only.
        .target(name: "Billing", exclude: ["README.md", "Catalog/README.md", "Pricing/README.md", "Subscriptions/README.md", "Tax/README.md", "Access/README.md"]),
        // CloudEvents parsing, meter matching, de-duplication keys, in-memory pre-aggregation.
        .target(name: "Metering", dependencies: ["Billing"], exclude: ["README.md"]),
        .testTarget(name: "MeteringTests", dependencies: ["Metering", "Billing"]),
        .testTarget(
            name: "BillingTests",
            dependencies: [
                "Billing",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
        ),
    ],
    swiftLanguageModes: [.v6]
)
