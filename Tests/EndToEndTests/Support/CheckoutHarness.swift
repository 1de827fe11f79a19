import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the built binary the way a web server runs a CGI program: an environment and a body in, bytes out.
struct CheckoutHarness: Sendable {
    let standIn: StandIn
    let binary: URL
    let jwtSecret: String
    /// This harness's own SQLite file for the billing state.
    let databasePath: String
    static let path = "/api/v1/billing/checkout"
    static let prefix = "/api/v1/billing"
    static let webhookSecret = "whsec_standin_test_secret"
    static let frontend = "http://localhost:3000"

    init(stripeKey: String = StandIn.secretKey, jwtSecret: String = Tokens.secret) async throws {
        // A child that closes its stdin early must not kill the test runner.
        signal(SIGPIPE, SIG_IGN)
        standIn = try await StandIn(secretKey: stripeKey)
        self.jwtSecret = jwtSecret
        binary = try Binaries.billingCheckout()
        databasePath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "billing-e2e-\(UUID().uuidString).sqlite"
        ).path
    }

    /// The settings every test starts from, pointing at this harness's stand-in: stateless (`DATABASE_URL=none`),
    /// checkout as §1–3 of the design has it; `loopSettings` adds the billing state.
    var settings: [String: String] {
        [
            "PATH": "/usr/bin:/bin",
            "JWT_SECRET": jwtSecret,
            "STRIPE_SECRET_KEY": standIn.acceptedKey,
            "STRIPE_PRICE_ID": StandIn.basicPrice,
            "STRIPE_PRICES_PRO": StandIn.proPrice,
            "STRIPE_API_BASE": standIn.baseURL,
            "STRIPE_TIMEOUT_SECONDS": "5",
            "FRONTEND_URL": Self.frontend,
            "BILLING_ENV_FILE": "",
            "DATABASE_URL": "none",
        ]
    }

    /// The settings with the billing loop on: this harness's own SQLite file and the stand-in's webhook secret.
    var loopSettings: [String: String] {
        settings.merging(
            ["DATABASE_URL": "sqlite:\(databasePath)", "STRIPE_WEBHOOK_SECRET": Self.webhookSecret]
        ) { $1 }
    }

    /// The meta-variables of a JSON POST to the endpoint, for tests that pipe raw bytes themselves.
    func cgiEnvironment(headers: [String: String], contentLength: Int) -> [String: String] {
        var environment = settings
        environment["REQUEST_METHOD"] = "POST"
        environment["REQUEST_URI"] = Self.path
        environment["CONTENT_TYPE"] = "application/json"
        environment["CONTENT_LENGTH"] = String(contentLength)
        for (name, value) in headers {
            environment[cgiVariable(forHeader: name)] = value
        }
        return environment
    }

    /// One CGI request: builds the meta-variables a web server would, pipes `body`, parses stdout.
    func cgi(
        method: String = "POST", path: String = CheckoutHarness.path, query: String? = nil,
        headers: [String: String] = [:], body: String = "{}", contentType: String? = "application/json",
        contentLength: String? = nil, settings overrides: [String: String?] = [:]
    ) async throws -> (response: CGIResponse, process: ProcessResult) {
        var environment = settings
        environment["GATEWAY_INTERFACE"] = "CGI/1.1"
        environment["SERVER_PROTOCOL"] = "HTTP/1.1"
        environment["REQUEST_METHOD"] = method
        environment["REQUEST_URI"] = path + (query.map { "?" + $0 } ?? "")
        environment["SCRIPT_NAME"] = path
        environment["QUERY_STRING"] = query ?? ""
        environment["REMOTE_ADDR"] = "127.0.0.1"
        environment["SERVER_NAME"] = "localhost"
        environment["SERVER_PORT"] = "80"
        if let contentType { environment["CONTENT_TYPE"] = contentType }
        let bodyData = Data(body.utf8)
        environment["CONTENT_LENGTH"] = contentLength ?? String(bodyData.count)
        for (name, value) in headers {
            environment[cgiVariable(forHeader: name)] = value
        }
        // Overrides last, so that a test can also remove or replace a meta-variable.
        for (name, value) in overrides { environment[name] = value }
        let result = try await ProcessRunner.run(binary, environment: environment, stdin: bodyData)
        guard result.exitCode == 0 else {
            throw SupportError("billing-checkout exited \(result.exitCode): \(result.stderrText)")
        }
        return (try CGIResponse.parse(result.stdout), result)
    }

    /// A request with a valid bearer token for `sub`.
    func authorized(_ token: String) -> [String: String] {
        ["Authorization": "Bearer \(token)"]
    }
}
