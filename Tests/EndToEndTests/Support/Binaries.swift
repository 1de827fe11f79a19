import Foundation

/// Finds the executables `swift build` put next to this test bundle.
enum Binaries {
    /// The endpoint, or `BILLING_CHECKOUT_BIN` when set.
    static func billingCheckout() throws -> URL {
        try locate("billing-checkout", override: "BILLING_CHECKOUT_BIN")
    }

    /// The Stripe stand-in, or `STAND_IN_BINARY` when set.
    static func standIn() throws -> URL {
        try locate("stripe-stand-in", override: "STAND_IN_BINARY")
    }

    private static func locate(_ name: String, override: String) throws -> URL {
        if let explicit = ProcessInfo.processInfo.environment[override] {
            return URL(fileURLWithPath: explicit)
        }
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw SupportError("\(name) not found near \(CommandLine.arguments[0]); build it or set \(override)")
    }
}

/// A failure of the test harness itself (not of the code under test).
struct SupportError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The meta-variable a web server sets for a request header (`Idempotency-Key` is `HTTP_IDEMPOTENCY_KEY`).
func cgiVariable(forHeader name: String) -> String {
    "HTTP_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
}
