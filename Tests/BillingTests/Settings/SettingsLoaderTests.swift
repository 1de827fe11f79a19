import Foundation
import Testing

@testable import Billing

/// `SettingsLoader.load(environment:)`: environment over the JSON file over defaults, every problem at once.
@Suite struct SettingsLoaderTests {
    /// `BILLING_ENV_FILE` is empty in every environment these tests load (`isolated`): otherwise the loader reads a
    /// `.env` in the working directory, which is a developer's own settings when `swift test` runs in a checkout.
    static let minimal = [
        "STRIPE_SECRET_KEY": "sk_test_env", "STRIPE_PRICE_ID": "price_env",
        "JWT_SECRET": "jwt-env-secret-0123456789abcdef-0123",
        "FRONTEND_URL": "https://app.example.com/", "BILLING_ENV_FILE": "",
    ]

    /// `environment` without the `.env` lookup, unless it names a file itself.
    static func isolated(_ environment: [String: String]) -> [String: String] {
        environment.merging(["BILLING_ENV_FILE": ""]) { mine, _ in mine }
    }

    static func load(_ environment: [String: String]) async throws -> Settings {
        try await SettingsLoader.load(environment: isolated(environment))
    }

    static func problems(_ environment: [String: String]) async -> [String] {
        do {
            _ = try await SettingsLoader.load(environment: isolated(environment))
            return []
        } catch let error as SettingsError {
            return error.problems
        } catch {
            return ["unexpected \(error)"]
        }
    }

    /// Writes `text` to a fresh temporary file and returns its path.
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("billing-\(UUID().uuidString)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a minimal environment loads with the documented defaults")
    func minimalEnvironment() async throws {
        let settings = try await Self.load(Self.minimal)
        #expect(settings.stripe.secretKey.value == "sk_test_env")
        #expect(settings.stripe.defaultPriceID == "price_env")
        #expect(settings.stripe.apiBase == "https://api.stripe.com")
        #expect(settings.stripe.maxNetworkRetries == 2)
        #expect(settings.stripe.timeoutSeconds == 20)
        #expect(settings.stripe.allowPromotionCodes == nil)
        #expect(settings.jwt.secret?.value == "jwt-env-secret-0123456789abcdef-0123")
        #expect(settings.jwt.planClaim == "plan")
        #expect(settings.defaultSuccessURL == "https://app.example.com/dashboard?success=true")
        #expect(settings.allowedRedirectOrigins == [Fixture.appOrigin])
        #expect(settings.corsOrigins.isEmpty)
        #expect(settings.routePath == "/api/v1/billing/checkout")
    }

    @Test("LOG_FORMAT chooses logfmt (the default) or json; anything else is a problem")
    func logFormat() async throws {
        #expect(try await Self.load(Self.minimal).logFormat == .logfmt)
        var environment = Self.minimal
        environment["LOG_FORMAT"] = "JSON"
        #expect(try await Self.load(environment).logFormat == .json)
        environment["LOG_FORMAT"] = "logfmt"
        #expect(try await Self.load(environment).logFormat == .logfmt)
        environment["LOG_FORMAT"] = "text"
        #expect(await Self.problems(environment) == ["logFormat (LOG_FORMAT) must be one of logfmt, json, got text"])
    }

    @Test("logFormat can come from a BILLING_CONFIG file")
    func logFormatFromFile() async throws {
        var environment = Self.minimal
        environment["BILLING_CONFIG"] = try Self.file(#"{"logFormat": "json"}"#)
        #expect(try await Self.load(environment).logFormat == .json)
    }

    @Test(
        "a number in BILLING_CONFIG that is not a whole number in range is a problem, never a trap or a silent default",
        arguments: ["1e300", "3.5", "-1", "99999999999999999999999", "\"12x\""])
    func numbersFromFile(value: String) async throws {
        var environment = Self.minimal
        environment["BILLING_CONFIG"] = try Self.file(#"{"stripe": {"timeoutSeconds": \#(value)}}"#)
        #expect(
            await Self.problems(environment) == [
                "stripe.timeoutSeconds (STRIPE_TIMEOUT_SECONDS) must be a whole number from 1 to 300"
            ])
    }

    @Test("the transport's settings are not the application's: SettingsLoader leaves them to the transport")
    func transportSettingsLeftAlone() async throws {
        var environment = Self.minimal
        environment["WORKERS"] = "0"
        environment["FASTCGI_DISPATCH"] = "fibers"
        let loaded = await SettingsLoader.read(environment: Self.isolated(environment))
        #expect(loaded.problems.isEmpty)
        #expect(loaded.settings != nil)
        #expect(loaded.reader.string(forKey: "workers") == "0")
    }

    @Test("STRIPE_CHECKOUT_HOSTS lists host names; anything else is a problem")
    func checkoutHosts() async throws {
        var environment = Self.minimal
        #expect(try await Self.load(environment).stripe.checkoutHosts == ["checkout.stripe.com"])
        environment["STRIPE_CHECKOUT_HOSTS"] = "Pay.Example.com, checkout.stripe.com"
        #expect(
            try await Self.load(environment).stripe.checkoutHosts
                == ["pay.example.com", "checkout.stripe.com"])
        for bad in ["https://pay.example.com", "pay.example.com:443", "pay example.com", "a..b"] {
            environment["STRIPE_CHECKOUT_HOSTS"] = bad
            #expect(
                await Self.problems(environment) == [
                    "stripe.checkoutHosts (STRIPE_CHECKOUT_HOSTS) must list host names such as checkout.stripe.com, got \(bad)"
                ])
        }
    }

    @Test("an empty environment lists every missing setting at once, by variable name")
    func emptyEnvironment() async {
        let problems = await Self.problems([:])
        let text = problems.joined(separator: "\n")
        #expect(problems.count >= 3)
        for variable in ["STRIPE_SECRET_KEY", "JWT_SECRET", "FRONTEND_URL"] {
            #expect(text.contains(variable), "no line names \(variable)")
        }
    }

    @Test("variables a client can set (HTTP_*) are never settings")
    func clientVariablesIgnored() async throws {
        var environment = Self.minimal
        environment["STRIPE_SECRET_KEY"] = nil
        environment["HTTP_STRIPE_SECRET_KEY"] = "sk_test_from_client"
        let configPath = try Self.file(#"{"stripe":{"secretKey":"sk_test_from_client_file"}}"#)
        environment["HTTP_BILLING_CONFIG"] = configPath
        let problems = await Self.problems(environment)
        #expect(problems.contains { $0.contains("STRIPE_SECRET_KEY") })
        #expect(
            SettingsLoader.trustedEnvironment(["HTTP_PROXY": "x", "HTTPS": "on", "JWT_SECRET": "s"])
                == ["HTTPS": "on", "JWT_SECRET": "s"])
        var overridden = Self.minimal
        overridden["HTTP_STRIPE_PRICE_ID"] = "price_cheap"
        overridden["HTTP_FRONTEND_URL"] = "https://evil.example.com"
        let settings = try await Self.load(overridden)
        #expect(settings.stripe.defaultPriceID == "price_env")
        #expect(settings.allowedRedirectOrigins == [Fixture.appOrigin])
    }

    @Test("secrets can come from files named by STRIPE_SECRET_KEY_FILE and JWT_SECRET_FILE")
    func secretFiles() async throws {
        var environment = Self.minimal
        environment["STRIPE_SECRET_KEY"] = nil
        environment["JWT_SECRET"] = nil
        environment["STRIPE_SECRET_KEY_FILE"] = try Self.file("sk_test_from_file\n")
        environment["JWT_SECRET_FILE"] = try Self.file("  jwt-file-secret-0123456789abcdef-0123  \n")
        let settings = try await Self.load(environment)
        #expect(settings.stripe.secretKey.value == "sk_test_from_file")
        #expect(settings.jwt.secret?.value == "jwt-file-secret-0123456789abcdef-0123")
        environment["JWT_SECRET_FILE"] = "/nonexistent/billing-secret"
        #expect(await Self.problems(environment).contains { $0.contains("JWT_SECRET_FILE") })
    }

    @Test("a BILLING_CONFIG JSON file supplies nested keys and the environment overrides it")
    func configFile() async throws {
        let json = """
            {"stripe":{"secretKey":"sk_test_file","priceId":"price_file","prices":{"pro":"price_pro_file","team":"price_team_file"},
             "maxNetworkRetries":3,"automaticTax":true},
             "jwt":{"secret":"jwt-file-secret-0123456789abcdef-0123","planClaim":"tier"},"frontendUrl":"https://app.example.com",
             "corsOrigins":["https://app.example.com/"]}
            """
        let settings = try await Self.load([
            "BILLING_CONFIG": try Self.file(json), "STRIPE_PRICE_ID": "price_env",
            "STRIPE_PRICES_TEAM": "price_team_env",
        ])
        #expect(settings.stripe.secretKey.value == "sk_test_file")
        #expect(settings.stripe.defaultPriceID == "price_env")
        #expect(settings.stripe.planPrices.price(for: "pro") == "price_pro_file")
        #expect(settings.stripe.planPrices.price(for: "team") == "price_team_env")
        #expect(settings.stripe.planPrices.price(for: "agency") == nil)
        #expect(settings.stripe.maxNetworkRetries == 3)
        #expect(settings.stripe.automaticTax)
        #expect(settings.jwt.planClaim == "tier")
        #expect(settings.corsOrigins == ["https://app.example.com"])
    }

    @Test("BILLING_ENV_FILE names a .env file under the environment; set but empty, no .env is read")
    func environmentFile() async throws {
        var environment = Self.minimal
        environment["STRIPE_PRICE_ID"] = nil
        let path = try Self.file("STRIPE_PRICE_ID=price_dotenv\nSTRIPE_MAX_NETWORK_RETRIES=5\nJWT_SECRET=ignored\n")
        environment["BILLING_ENV_FILE"] = path
        let settings = try await Self.load(environment)
        #expect(settings.stripe.defaultPriceID == "price_dotenv")
        #expect(settings.stripe.maxNetworkRetries == 5)
        #expect(settings.jwt.secret?.value == "jwt-env-secret-0123456789abcdef-0123", "the environment wins")
        environment["BILLING_ENV_FILE"] = ""
        environment["STRIPE_PRICE_ID"] = "price_env"
        #expect(try await Self.load(environment).stripe.maxNetworkRetries == 2)
    }

    @Test("a BILLING_CONFIG that is not a readable JSON object is a problem")
    func badConfigFile() async throws {
        var environment = Self.minimal
        environment["BILLING_CONFIG"] = try Self.file("not json")
        #expect(await Self.problems(environment).contains { $0.hasPrefix("BILLING_CONFIG") })
    }

    @Test("plan prices are looked up in the environment as STRIPE_PRICES_<PLAN>")
    func planPricesFromEnvironment() async throws {
        var environment = Self.minimal
        environment["STRIPE_PRICES_PRO"] = "price_pro_env"
        let settings = try await Self.load(environment)
        #expect(settings.stripe.planPrices.price(for: "pro") == "price_pro_env")
        #expect(settings.stripe.planPrices.price(for: "agency") == nil)
    }

    @Test(
        "invalid numbers and booleans are refused with a line naming the variable",
        arguments: [
            (
                "STRIPE_MAX_NETWORK_RETRIES", "abc",
                "stripe.maxNetworkRetries (STRIPE_MAX_NETWORK_RETRIES) must be a whole number from 0 to 10"
            ),
            (
                "STRIPE_MAX_NETWORK_RETRIES", "11",
                "stripe.maxNetworkRetries (STRIPE_MAX_NETWORK_RETRIES) must be a whole number from 0 to 10"
            ),
            (
                "STRIPE_TIMEOUT_SECONDS", "0",
                "stripe.timeoutSeconds (STRIPE_TIMEOUT_SECONDS) must be a whole number from 1 to 300"
            ),
            (
                "STRIPE_ALLOW_PROMOTION_CODES", "maybe",
                "stripe.allowPromotionCodes (STRIPE_ALLOW_PROMOTION_CODES) must be true or false, got maybe"
            ),
            (
                "STRIPE_SECRET_KEY", "pk_live_123",
                "stripe.secretKey (STRIPE_SECRET_KEY) must be a Stripe secret or restricted key (sk_… or rk_…)"
            ),
            ("ROUTE_PATH", "api", "routePath (ROUTE_PATH) must start with /, got api"),
        ])
    func invalidValues(variable: String, value: String, line: String) async {
        var environment = Self.minimal
        environment[variable] = value
        let problems = await Self.problems(environment)
        #expect(problems == [line])
        #expect(!problems.joined().contains("pk_live_123"))
    }

    @Test(
        "booleans and numbers in their accepted spellings",
        arguments: [("true", true), ("false", false), ("1", true), ("no", false)])
    func booleans(text: String, value: Bool) async throws {
        var environment = Self.minimal
        environment["STRIPE_ALLOW_PROMOTION_CODES"] = text
        environment["STRIPE_TRIAL_PERIOD_DAYS"] = "14"
        let settings = try await Self.load(environment)
        #expect(settings.stripe.allowPromotionCodes == value)
        #expect(settings.stripe.trialPeriodDays == 14)
    }

    @Test("ALLOWED_REDIRECT_ORIGINS replaces the frontend origin")
    func allowedRedirectOrigins() async throws {
        var environment = Self.minimal
        environment["ALLOWED_REDIRECT_ORIGINS"] = "https://www.example.com, http://localhost:3000"
        let settings = try await Self.load(environment)
        #expect(
            settings.allowedRedirectOrigins == [
                Origin(scheme: "https", host: "www.example.com", port: 443),
                Origin(scheme: "http", host: "localhost", port: 3000),
            ])
        environment["ALLOWED_REDIRECT_ORIGINS"] = "https://ok.example.com,javascript:x"
        #expect(
            await Self.problems(environment).contains {
                $0.contains("ALLOWED_REDIRECT_ORIGINS") && $0.contains("javascript:x")
            })
    }

    @Test(
        "variable names follow swift-configuration's mapping",
        arguments: [
            ("stripe.secretKey", "STRIPE_SECRET_KEY"), ("frontendUrl", "FRONTEND_URL"),
            ("maxBodyBytes", "MAX_BODY_BYTES"),
            ("jwt.leewaySeconds", "JWT_LEEWAY_SECONDS"),
        ])
    func variableNames(key: String, variable: String) {
        #expect(SettingsReader.variableName(key) == variable)
    }
}

@Suite struct JWTSecretLengthTests {
    @Test("an HS256 secret shorter than 32 bytes is refused with a line naming JWT_SECRET")
    func shortSecret() async throws {
        let environment = [
            "STRIPE_SECRET_KEY": "sk_test_env", "JWT_SECRET": "short-secret", "FRONTEND_URL": "https://app.example.com",
            "BILLING_ENV_FILE": "",
        ]
        do {
            _ = try await SettingsLoader.load(environment: environment)
            Issue.record("a 12-byte secret was accepted")
        } catch let error as SettingsError {
            #expect(error.problems == ["jwt.secret (JWT_SECRET) must be at least 32 bytes for HS256 (RFC 7518 §3.2)"])
        }
    }
}
