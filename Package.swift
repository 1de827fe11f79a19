// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// The executables and tests that run URLSession export the curl symbols CCurlLeakFix, CCurlPollFix and CCurlBodyCap define, so
/// that libcurl's and FoundationNetworking's calls resolve to them (see those targets' sources).
let exportCurlFix: [LinkerSetting] = [
    "curl_url", "curl_url_dup", "curl_url_cleanup", "curl_free", "curl_multi_setopt", "curl_easy_setopt",
    "curl_easy_cleanup",
].map {
    .unsafeFlags(["-Xlinker", "--export-dynamic-symbol=\($0)"], .when(platforms: [.linux]))
}

let package = Package(
    name: "billing-checkout",
    products: [
        .executable(name: "billing-checkout", targets: ["billing-checkout"]),
        .executable(name: "stripe-stand-in", targets: ["stripe-stand-in"]),
        // Libraries only so that the fuzzing package in Fuzz/ can depend on them.
        .library(name: "Billing", targets: ["Billing"]),
        .library(name: "FastCGI", targets: ["FastCGI"]),
        .library(name: "HTTPResponder", targets: ["HTTPResponder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-configuration", exact: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "4.0.0"..<"5.0.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        // Works around URLSession's per-request leak of libcurl URL handles on Linux.
        .target(name: "CCurlLeakFix"),
        // Works around URLSession's busy polling while it awaits an answer on a new connection on Linux.
        .target(name: "CCurlPollFix"),
        // Caps the body bytes any libcurl transfer delivers to URLSession, counted after decompression.
        .target(name: "CCurlBodyCap"),
        // Detached threads and a lock whose waiters sleep at once, for the FastCGI workers and the Stripe deadlines.
        .target(name: "Threads", swiftSettings: strict),
        // The seam between transport and application: a request value, a response value, one protocol.
        .target(
            name: "HTTPResponder",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types")
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FastCGI",
            dependencies: [
                "CFastCGI",
                "HTTPResponder",
                "Threads",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        // The billing state (customers, subscriptions, open sessions, processed events) behind one protocol.
        .target(name: "BillingStore", swiftSettings: strict),
        // The embedded engine: one SQLite file (WAL, a busy timeout) shared by every process on a host.
        .target(
            name: "SQLiteStore",
            dependencies: ["BillingStore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        // The shared engine: PostgreSQL, for several web hosts (a connection pool per FastCGI process).
        .target(
            name: "PostgresStore",
            dependencies: [
                "BillingStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Billing",
            dependencies: [
                "BillingStore",
                "HTTPResponder",
                "Threads",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "billing-checkout",
            dependencies: [
                "FastCGI",
                "Billing",
                "CCurlLeakFix",
                "CCurlPollFix",
                "CCurlBodyCap",
                "SQLiteStore",
                "PostgresStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            // Only the curl symbols above are exported: the loader then has 5 dynamic symbols to look through
            // instead of ~10,000, which takes ~1.3 ms off every CGI start (docs/performance.md).
            linkerSettings: exportCurlFix + [
                .unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(platforms: [.linux]))
            ]
        ),
        .executableTarget(
            name: "stripe-stand-in",
            dependencies: [
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BillingTests",
            dependencies: ["Billing", "HTTPResponder"],
            exclude: ["JSON/Resources", "JSON/gen_vectors.py"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "BillingStore", "SQLiteStore", "PostgresStore", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FastCGITests",
            dependencies: [
                "FastCGI", "HTTPResponder", .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StripeStandInTests",
            dependencies: ["stripe-stand-in"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CurlFixTests",
            dependencies: ["CCurlLeakFix", "CCurlPollFix", "CCurlBodyCap", "Billing"],
            swiftSettings: strict,
            linkerSettings: exportCurlFix
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [.product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: strict
        ),
    ]
)
