import Configuration
import Foundation

/// The settings of the billing loop (§7–8 of the design): where its routes are, where its state is, and how
/// webhooks are verified.
public struct LoopSettings: Sendable {
    /// The prefix of the four routes (`…/checkout`, `…/subscription`, `…/portal`, `…/webhook`).
    public var routePrefix: String
    /// Where the billing state is kept.
    public var database: DatabaseLocation
    /// How long one store operation may wait (SQLite: for another process's write lock; PostgreSQL: for a pooled
    /// connection and its answer) before the request gets a 503.
    public var databaseTimeoutSeconds: Int
    /// PostgreSQL connections per FastCGI process; nil: sized from the workers (`defaultPoolSize(workers:)`).
    public var databasePoolSize: Int?
    /// The `whsec_…` secrets a webhook may be signed with (several while one is rolled); none: the webhook
    /// answers 500 `Billing is not configured`.
    public var webhookSecrets: [Secret]
    /// How old a webhook's signature time may be, in seconds.
    public var webhookToleranceSeconds: Int
    /// The largest webhook body accepted (Stripe's events can be larger than a checkout body).
    public var webhookMaxBodyBytes: Int
    /// Subscription statuses that make `active` true.
    public var entitledStatuses: Set<String>

    /// Loop settings from their parts, with the documented defaults.
    public init(
        routePrefix: String = LoopSettings.defaultRoutePrefix, database: DatabaseLocation = .none,
        databaseTimeoutSeconds: Int = LoopSettings.defaultDatabaseTimeoutSeconds, databasePoolSize: Int? = nil,
        webhookSecrets: [Secret] = [], webhookToleranceSeconds: Int = 300,
        webhookMaxBodyBytes: Int = LoopSettings.defaultWebhookMaxBodyBytes,
        entitledStatuses: Set<String> = ["active", "trialing"]
    ) {
        self.routePrefix = routePrefix
        self.database = database
        self.databaseTimeoutSeconds = databaseTimeoutSeconds
        self.databasePoolSize = databasePoolSize
        self.webhookSecrets = webhookSecrets
        self.webhookToleranceSeconds = webhookToleranceSeconds
        self.webhookMaxBodyBytes = webhookMaxBodyBytes
        self.entitledStatuses = entitledStatuses
    }

    /// `/api/v1/billing`.
    public static let defaultRoutePrefix = "/api/v1/billing"
    /// 512 KiB: Stripe's largest events are a few hundred KiB.
    public static let defaultWebhookMaxBodyBytes = 512 * 1024
    /// 5 s: a store that cannot answer in that time is down for this request.
    public static let defaultDatabaseTimeoutSeconds = 5
    /// The pool of a FastCGI process: one connection per worker, at most 10. A store operation holds a connection
    /// for a few milliseconds while a request waits hundreds on Stripe, so 10 serve far more than 10 workers.
    public static func defaultPoolSize(workers: Int) -> Int { max(1, min(workers, 10)) }
    /// Where the SQLite file is when `DATABASE_URL` is not set.
    public static let defaultSQLitePath = "/var/lib/billing-checkout/billing.sqlite"
}

extension SettingsReader {
    /// Reads the loop's settings; `routePath` is the checkout's path of earlier versions.
    mutating func loopSettings(legacyRoutePath: String?) -> LoopSettings {
        var prefix = LoopSettings.defaultRoutePrefix
        if let configured = string("routePrefix") {
            prefix = configured.trimmingTrailingSlashes()
            if !prefix.hasPrefix("/") { problems.append("routePrefix (ROUTE_PREFIX) must start with /, got \(configured)") }
        } else if let legacy = legacyRoutePath {
            // The one path of earlier versions: checkout stays where it was, the loop's routes sit beside it.
            if legacy.hasSuffix("/checkout"), legacy.hasPrefix("/") {
                prefix = String(legacy.dropLast("/checkout".count))
            } else if legacy.hasPrefix("/") {
                problems.append(
                    "routePath (ROUTE_PATH) is replaced by routePrefix (ROUTE_PREFIX); a ROUTE_PATH must end in /checkout, got \(legacy)"
                )
            }
        }
        let database = databaseLocation()
        var secrets: [Secret] = []
        if let value = secret("stripe.webhookSecret", variable: "STRIPE_WEBHOOK_SECRET") {
            for part in value.value.split(whereSeparator: { $0 == "," || $0 == "\n" }) {
                let trimmed = part.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !trimmed.isEmpty else { continue }
                if trimmed.hasPrefix("whsec_") {
                    secrets.append(Secret(trimmed))
                } else {
                    problems.append("stripe.webhookSecret (STRIPE_WEBHOOK_SECRET) must be whsec_… secrets, comma-separated")
                }
            }
        }
        let entitled = Set((list("entitledStatuses") ?? ["active", "trialing"]).map { $0.lowercased() })
        return LoopSettings(
            routePrefix: prefix, database: database,
            databaseTimeoutSeconds: int(
                "database.timeoutSeconds", default: LoopSettings.defaultDatabaseTimeoutSeconds, range: 1...60),
            databasePoolSize: intIfSet("database.poolSize", range: 1...1000),
            webhookSecrets: secrets,
            webhookToleranceSeconds: int("stripe.webhookToleranceSeconds", default: 300, range: 1...86_400),
            webhookMaxBodyBytes: int(
                "webhookMaxBodyBytes", default: LoopSettings.defaultWebhookMaxBodyBytes, range: 1024...(1 << 20)),
            entitledStatuses: entitled)
    }
}
