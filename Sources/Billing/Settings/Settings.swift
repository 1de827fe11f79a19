import Logging

/// Everything the application needs to know, read once at start (see `SettingsLoader`). How requests reach it
/// (workers, the body limit) is the transport's to know, not the application's.
public struct Settings: Sendable {
    /// How to reach Stripe and what to ask of it.
    public var stripe: StripeSettings
    /// How bearer tokens are verified and which claims carry what.
    public var jwt: JWTSettings
    /// The SaaS front end; the default redirect URLs hang off it.
    public var frontendURL: String
    /// Origins that `success_url` and `cancel_url` may point at.
    public var allowedRedirectOrigins: Set<Origin>
    /// Browser origins allowed to call the endpoint cross-origin; empty turns CORS off.
    public var corsOrigins: Set<String>
    /// The path the endpoint answers on.
    public var routePath: String
    /// The lowest log level written.
    public var logLevel: Logger.Level
    /// How log lines are written: logfmt or JSON lines.
    public var logFormat: LogFormat
    /// Whether a body without a `Content-Type` is refused as not JSON (current FastAPI's default, a CSRF
    /// defence), or read as JSON as older FastAPI did.
    public var strictContentType: Bool
    /// The billing loop: its routes, its state, its webhooks.
    public var loop: LoopSettings

    /// Creates settings from their parts, with the documented defaults for the optional ones.
    public init(
        stripe: StripeSettings,
        jwt: JWTSettings,
        frontendURL: String,
        allowedRedirectOrigins: Set<Origin>,
        corsOrigins: Set<String> = [],
        routePath: String = "/api/v1/billing/checkout",
        logLevel: Logger.Level = .info,
        logFormat: LogFormat = .logfmt,
        strictContentType: Bool = true,
        loop: LoopSettings = LoopSettings()
    ) {
        self.stripe = stripe
        self.jwt = jwt
        self.frontendURL = frontendURL
        self.allowedRedirectOrigins = allowedRedirectOrigins
        self.corsOrigins = corsOrigins
        self.routePath = routePath
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.strictContentType = strictContentType
        self.loop = loop
    }

    /// Where Stripe sends the customer after paying, when the request names no `success_url`.
    public var defaultSuccessURL: String { frontendURL.trimmingTrailingSlashes() + "/dashboard?success=true" }
    /// Where Stripe sends the customer after cancelling, when the request names no `cancel_url`.
    public var defaultCancelURL: String { frontendURL.trimmingTrailingSlashes() + "/dashboard?canceled=true" }
    /// Where the Billing Portal sends the customer back, when the request names no `return_url`.
    public var defaultReturnURL: String { frontendURL.trimmingTrailingSlashes() + "/dashboard" }
}

/// The Stripe part of the settings.
public struct StripeSettings: Sendable {
    /// The secret (or restricted) API key.
    public var secretKey: Secret
    /// The price for users whose token names no plan.
    public var defaultPriceID: String?
    /// Price per plan name (`stripe.prices.<plan>`), looked up when a token names a plan.
    public var planPrices: PlanPrices
    /// Scheme, host and port of the API, without a trailing slash.
    public var apiBase: String
    /// The pinned `Stripe-Version`.
    public var apiVersion: String
    /// How many times a failed call is retried (Stripe's libraries default to 2 for this endpoint's use).
    public var maxNetworkRetries: Int
    /// One deadline for all tries together, in seconds.
    public var timeoutSeconds: Double
    /// Sent as `allow_promotion_codes` when set.
    public var allowPromotionCodes: Bool?
    /// Sent as `automatic_tax[enabled]=true` when true.
    public var automaticTax: Bool
    /// Sent as `subscription_data[trial_period_days]` when set.
    public var trialPeriodDays: Int?
    /// Hosts a Checkout Session's `url` may point at (lowercase); Stripe's own unless custom domains are used.
    public var checkoutHosts: Set<String>
    /// Hosts a Billing Portal session's `url` may point at (lowercase).
    public var portalHosts: Set<String>

    /// Creates Stripe settings, with the documented defaults for the optional ones.
    public init(
        secretKey: Secret,
        defaultPriceID: String?,
        planPrices: PlanPrices = PlanPrices([:]),
        apiBase: String = "https://api.stripe.com",
        apiVersion: String = StripeSettings.pinnedAPIVersion,
        maxNetworkRetries: Int = 2,
        timeoutSeconds: Double = 20,
        allowPromotionCodes: Bool? = nil,
        automaticTax: Bool = false,
        trialPeriodDays: Int? = nil,
        checkoutHosts: Set<String> = StripeSettings.defaultCheckoutHosts,
        portalHosts: Set<String> = StripeSettings.defaultPortalHosts
    ) {
        self.secretKey = secretKey
        self.defaultPriceID = defaultPriceID
        self.planPrices = planPrices
        self.apiBase = apiBase
        self.apiVersion = apiVersion
        self.maxNetworkRetries = maxNetworkRetries
        self.timeoutSeconds = timeoutSeconds
        self.allowPromotionCodes = allowPromotionCodes
        self.automaticTax = automaticTax
        self.trialPeriodDays = trialPeriodDays
        self.checkoutHosts = checkoutHosts
        self.portalHosts = portalHosts
    }

    /// Stripe's Checkout host.
    public static let defaultCheckoutHosts: Set<String> = ["checkout.stripe.com"]
    /// Stripe's Billing Portal host.
    public static let defaultPortalHosts: Set<String> = ["billing.stripe.com"]

    /// The API version this code was written and tested against.
    public static let pinnedAPIVersion = "2024-06-20"
}

/// The price configured for each plan, looked up by name when a token carries a plan claim.
///
/// A token's plan is looked up by name; the plans named in the environment (`STRIPE_PRICES_<PLAN>`) and in the
/// JSON file (`stripe.prices`) are also known by name, so that a subscription's price maps back to its plan.
public struct PlanPrices: Sendable {
    private let lookup: @Sendable (String) -> String?
    /// The plan names the settings spell out.
    public let names: [String]

    /// Prices from a fixed table.
    public init(_ table: [String: String]) {
        self.lookup = { table[$0] }
        self.names = table.keys.sorted()
    }

    /// Prices from a lookup function (the settings reader) and the plan names known.
    public init(names: [String] = [], lookup: @escaping @Sendable (String) -> String?) {
        self.lookup = lookup
        self.names = names
    }

    /// The plan whose configured price is `priceID`, if any.
    public func plan(forPrice priceID: String) -> String? {
        names.first { lookup($0) == priceID }
    }

    /// The price for `plan`, or nil when none is configured.
    public func price(for plan: String) -> String? {
        lookup(plan)
    }
}

/// The token-verification part of the settings.
public struct JWTSettings: Sendable {
    /// Shared secret for HS256 tokens.
    public var secret: Secret?
    /// PEM text of public keys (RSA, EC P-256 or Ed25519) for RS256/ES256/EdDSA tokens.
    public var publicKeysPEM: [String]
    /// A JWKS document (JSON) with public keys, matched on `kid`.
    public var jwks: String?
    /// Required `iss`, when set.
    public var issuer: String?
    /// Required `aud` (one of the token's audiences), when set.
    public var audience: String?
    /// Claim that names the user's plan.
    public var planClaim: String
    /// Claim that names the user's Stripe customer.
    public var customerClaim: String
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    public var leewaySeconds: Double

    /// Creates token settings, with the documented defaults for the optional ones.
    public init(
        secret: Secret? = nil,
        publicKeysPEM: [String] = [],
        jwks: String? = nil,
        issuer: String? = nil,
        audience: String? = nil,
        planClaim: String = "plan",
        customerClaim: String = "stripe_customer_id",
        leewaySeconds: Double = 0
    ) {
        self.secret = secret
        self.publicKeysPEM = publicKeysPEM
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.planClaim = planClaim
        self.customerClaim = customerClaim
        self.leewaySeconds = leewaySeconds
    }
}

extension String {
    func trimmingTrailingSlashes() -> String {
        var result = Substring(self)
        while result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }
}
