import Foundation
import Testing

/// `billing-checkout --check`: the application's settings and the transport's, validated together.
@Suite("--check end to end")
struct CheckOptionEndToEndTests {
    static let valid = [
        "STRIPE_SECRET_KEY": "sk_test_check", "JWT_SECRET": "check-secret-0123456789abcdef-0123456789",
        "FRONTEND_URL": "https://app.example.com", "BILLING_ENV_FILE": "", "DATABASE_URL": "none",
    ]

    @Test("valid settings: one line on stdout, exit 0")
    func valid() async throws {
        let result = try await ProcessRunner.run(
            try Binaries.billingCheckout(), arguments: ["--check"], environment: Self.valid)
        #expect(result.exitCode == 0)
        #expect(result.stdoutText == "settings are valid\n")
    }

    @Test("a billing state that cannot be opened: one line naming DATABASE_URL and why, exit 78")
    func storeCannotOpen() async throws {
        var environment = Self.valid
        environment["DATABASE_URL"] = "sqlite:/nonexistent-billing-dir/billing.sqlite"
        let result = try await ProcessRunner.run(
            try Binaries.billingCheckout(), arguments: ["--check"], environment: environment)
        #expect(result.exitCode == 78)
        #expect(
            result.stderrText
                == "billing-checkout: cannot open the billing state (DATABASE_URL): the directory /nonexistent-billing-dir does not exist\n"
        )
    }

    @Test("a bad WORKERS and a missing STRIPE_SECRET_KEY are reported together, and the exit is 78")
    func everyProblemAtOnce() async throws {
        var environment = Self.valid
        environment["STRIPE_SECRET_KEY"] = nil
        environment["WORKERS"] = "0"
        environment["FASTCGI_DISPATCH"] = "fibers"
        let result = try await ProcessRunner.run(
            try Binaries.billingCheckout(), arguments: ["--check"], environment: environment)
        #expect(result.exitCode == 78)
        let lines = result.stderrText.split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "billing-checkout: configuration error: stripe.secretKey (STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_FILE) is required",
                "billing-checkout: configuration error: fastcgiDispatch (FASTCGI_DISPATCH) must be one of tasks, threads, got fibers",
                "billing-checkout: configuration error: workers (WORKERS) must be a whole number from 1 to 1024",
            ])
    }
}
