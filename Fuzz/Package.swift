// swift-tools-version: 6.2
// libFuzzer targets for billing-checkout. Built only by scripts/fuzz, with -sanitize=fuzzer, so that the
// main package's `swift build` never has to link an executable without a main.
import PackageDescription

// A path dependency is named after its folder, which is whatever the checkout is called.
let root = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "main")

let package = Package(
    name: "billing-fuzz",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/vapor/jwt-kit", exact: "5.8.0"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "billing-fuzz",
            dependencies: [
                .product(name: "Billing", package: root),
                .product(name: "FastCGI", package: root),
                .product(name: "HTTPResponder", package: root),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6), .enableExperimentalFeature("Extern"), .unsafeFlags(["-parse-as-library"]),
            ]
        )
    ]
)
