import Billing
import BillingStore
import CCurlBodyCap
import FastCGI
import Foundation
import Logging
import PostgresStore
import SQLiteStore

#if canImport(Glibc)
    import Glibc
#endif

/// Command-line options: `--listen ADDRESS` (FastCGI on a socket of our own), `--check` (validate settings), `--help`.
struct Options {
    var listen: ListenAddress?
    var checkOnly = false
    /// `--copy-state-from sqlite:PATH`: copy that file's state into the configured (empty) store, then exit.
    var copyFrom: String?

    static let usage = """
        usage: billing-checkout [--listen HOST:PORT | --listen /path/to.sock] [--check]
               billing-checkout --copy-state-from sqlite:/path/to/billing.sqlite

        Serves POST /api/v1/billing/checkout as FastCGI (socket on fd 0 from the web server,
        spawn-fcgi or systemd, or --listen) or as plain CGI (one request from the environment).
        --check loads and validates the settings, prints the problems, and exits (0 when valid).
        --copy-state-from copies a SQLite state into the store DATABASE_URL names, which must be
        empty (docs/deployment.md#moving-from-sqlite-to-postgresql), and exits (0 when copied).
        Settings: environment, BILLING_ENV_FILE (.env), BILLING_CONFIG (JSON); see docs/settings.md.

        """

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--listen":
                guard let value = iterator.next(), let address = ListenAddress(argument: value) else {
                    fail("--listen needs HOST:PORT, :PORT or a socket path", code: 64)
                }
                options.listen = address
            case "--check": options.checkOnly = true
            case "--copy-state-from":
                guard let value = iterator.next(), value.lowercased().hasPrefix("sqlite:") else {
                    fail("--copy-state-from needs sqlite:/path/to/billing.sqlite", code: 64)
                }
                options.copyFrom = value
            case "--help", "-h":
                FileHandle.standardOutput.write(Data(usage.utf8))
                exit(0)
            default: fail("unknown argument \(argument)\n\(usage)", code: 64)
            }
        }
        return options
    }
}

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("billing-checkout: \(message)\n".utf8))
    exit(code)
}

// A web server that closes the pipe early must not kill the process mid-write.
signal(SIGPIPE, SIG_IGN)
let options = Options.parse(CommandLine.arguments)
let environment = ProcessInfo.processInfo.environment
let isCGI = options.listen == nil && !options.checkOnly && options.copyFrom == nil && FastCGIServer.isCGI
// No proxy from the environment, CGI or FastCGI: libcurl would read http_proxy, https_proxy, all_proxy… itself, and
// in CGI HTTP_PROXY is the client's `Proxy:` header (httpoxy). Before any URLSession exists.
ProxyEnvironment.clear()
if isCGI {
    if environment["REQUEST_METHOD"] == nil && isatty(0) != 0 {
        fail("not started by a web server (no REQUEST_METHOD, no FastCGI socket)\n\(Options.usage)", code: 64)
    }
}

// Foundation's URLSession configuration creates ~/.cache/org.swift.foundation.URLCache/<program> and
// ~/.local/share/<directory> on every start, even for an ephemeral session without a cache; under a web server
// that is the server user's home (www-data's is /var/www). Nothing here uses those directories: point them at
// a path no one can create.
setenv("XDG_CACHE_HOME", "/dev/null/billing-checkout-keeps-no-cache", 1)
setenv("XDG_DATA_HOME", "/dev/null/billing-checkout-keeps-no-data", 1)

LoggingSystem.bootstrap { StderrLogHandler(label: $0) }
var logger = Logger(label: "billing-checkout")

// The application's settings and the transport's come from one reader, so that every problem is reported at once.
let loaded = await SettingsLoader.read(environment: environment)
var problems = loaded.problems
let transport = TransportConfiguration(reader: loaded.reader, problems: &problems)
let application: CheckoutApplication
do {
    guard problems.isEmpty, let settings = loaded.settings else { throw SettingsError(problems: problems) }
    StderrLogHandler.format = settings.logFormat
    let verifier = try await TokenVerifier.make(settings: settings.jwt)
    logger.logLevel = settings.logLevel
    // URLSession stops reading an answer at StripeAnswerLimit.maxBytes, but only libcurl can stop a transfer in
    // time (a compressed answer inflates faster than URLSession sees it): it aborts past twice that.
    billing_curl_body_cap_set(2 * StripeAnswerLimit.maxBytes)
    let stripe = URLSessionStripeClient(settings: settings.stripe, maxConnections: transport.workers, logger: logger)
    let store = try await openStore(settings.loop, workers: transport.workers, isCGI: isCGI, logger: logger)
    if let source = options.copyFrom {
        guard let store else { fail("--copy-state-from: DATABASE_URL is none; name the store to copy into", code: 64) }
        await copyState(from: source, into: store)
    }
    application = CheckoutApplication(
        settings: settings, verifier: verifier, stripe: stripe, store: store, logger: logger)
    if options.checkOnly {
        print("settings are valid")
        exit(0)
    }
} catch let error as SettingsError {
    if !isCGI {
        for problem in error.problems {
            FileHandle.standardError.write(Data("billing-checkout: configuration error: \(problem)\n".utf8))
        }
        exit(78)  // EX_CONFIG
    }
    for problem in error.problems {
        logger.error("configuration error", metadata: ["problem": "\(problem)"])
    }
    application = .unconfigured(logger: logger)
} catch let error as StoreError {
    // A store that cannot be opened (or, for FastCGI, reached): FastCGI refuses to start with one line, CGI
    // answers the contract's 500. A server that is down is not a settings problem: exit 69 (EX_UNAVAILABLE),
    // which the shipped systemd units restart, unlike 78 (EX_CONFIG).
    if !isCGI {
        let unreachable = if case .unavailable = error { true } else { false }
        fail("cannot open the billing state (DATABASE_URL): \(error.reason)", code: unreachable ? 69 : 78)
    }
    logger.error("cannot open the billing state", metadata: ["reason": "\(error.reason)"])
    application = .unconfigured(logger: logger)
} catch {
    fail("cannot start: \(error)", code: 1)
}

if isCGI {
    CGIRunner(configuration: transport).run(environment: environment, responder: application)
    // The answer is complete. Closing stdout and stderr lets the web server finish the response now instead of
    // when the process has been torn down, about 4 ms later (docs/performance.md).
    close(1)
    close(2)
    exit(0)
}

logger.info(
    "serving FastCGI",
    metadata: [
        "workers": "\(transport.workers)", "dispatch": "\(transport.dispatch.rawValue)",
        "listen": "\(options.listen ?? .inherited)",
    ])
let serverLogger = logger
do {
    try FastCGIServer(
        address: options.listen ?? .inherited, configuration: transport, report: { serverLogger.warning("\($0)") }
    ).run(responder: application)
} catch {
    fail("\(error)", code: 71)
}
logger.info("stopped")
exit(0)

