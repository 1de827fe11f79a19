import Foundation

/// Settings from the command line (`--port`, `--host`) and environment (`STAND_IN_SECRET_KEY`, `STAND_IN_PRICES`,
/// `STAND_IN_LOG`, `STAND_IN_CONNECTION_CLOSE`, `STAND_IN_WEBHOOK_SECRET`, `STAND_IN_WEBHOOK_URL`,
/// `STAND_IN_STRICT_CUSTOMERS`, `STAND_IN_PORTAL_CONFIGURED`).
struct StandInConfiguration: Sendable, Equatable {
    /// The address to bind, default `127.0.0.1`.
    var host = "127.0.0.1"
    /// The port to bind; 0 picks a free port.
    var port: UInt16 = 0
    /// The accepted secret key.
    var secretKey = "sk_test_standin"
    /// Price ids that exist.
    var prices: Set<String> = ["price_standin_basic", "price_standin_pro"]

    /// Whether FlyingFox connection logs go to stderr (`STAND_IN_LOG=1`).
    var logging = false

    /// Whether every response carries `Connection: close` (`STAND_IN_CONNECTION_CLOSE=1`).
    var closeConnections = false

    /// The secret webhook events are signed with (`STAND_IN_WEBHOOK_SECRET`).
    var webhookSecret = "whsec_standin_test_secret"

    /// Where webhook events are delivered (`STAND_IN_WEBHOOK_URL`); `nil` delivers nothing.
    var webhookURL: URL?

    /// Whether an unknown `cus_…` id is refused like Stripe does (`STAND_IN_STRICT_CUSTOMERS=1`) instead of adopted.
    var strictCustomers = false

    /// Whether the billing portal has a default configuration (`STAND_IN_PORTAL_CONFIGURED=0` says it has none).
    var portalConfigured = true

    /// The usage line printed on bad arguments.
    static let usage = "usage: stripe-stand-in --port N [--host 127.0.0.1]"

    /// Parses arguments (without the program name) and environment, or throws a message for bad input.
    static func parse(arguments: [String], environment: [String: String]) throws(ConfigurationError)
        -> StandInConfiguration
    {
        var configuration = StandInConfiguration()
        var remaining = arguments[...]
        while let flag = remaining.popFirst() {
            guard let value = remaining.popFirst() else {
                throw ConfigurationError(message: "missing value for \(flag)")
            }
            switch flag {
            case "--port":
                guard let port = UInt16(value) else { throw ConfigurationError(message: "invalid port \(value)") }
                configuration.port = port
            case "--host":
                configuration.host = value
            default:
                throw ConfigurationError(message: "unknown option \(flag)")
            }
        }
        if let key = environment["STAND_IN_SECRET_KEY"], !key.isEmpty {
            configuration.secretKey = key
        }
        if let list = environment["STAND_IN_PRICES"], !list.isEmpty {
            configuration.prices = Set(
                list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        configuration.logging = environment["STAND_IN_LOG"] == "1"
        configuration.closeConnections = environment["STAND_IN_CONNECTION_CLOSE"] == "1"
        if let secret = environment["STAND_IN_WEBHOOK_SECRET"], !secret.isEmpty {
            configuration.webhookSecret = secret
        }
        if let text = environment["STAND_IN_WEBHOOK_URL"], !text.isEmpty {
            guard let url = WebhookSettings.url(from: text) else {
                throw ConfigurationError(message: "STAND_IN_WEBHOOK_URL is not an http(s) URL: \(text)")
            }
            configuration.webhookURL = url
        }
        configuration.strictCustomers = environment["STAND_IN_STRICT_CUSTOMERS"] == "1"
        configuration.portalConfigured = environment["STAND_IN_PORTAL_CONFIGURED"] != "0"
        return configuration
    }
}

/// Explains why the command line could not be parsed.
struct ConfigurationError: Error, Sendable {
    /// A human-readable reason.
    let message: String
}
