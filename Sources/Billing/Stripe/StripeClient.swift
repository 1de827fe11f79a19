/// A created Checkout Session, as much of it as the endpoint uses.
public struct CheckoutSession: Sendable, Equatable {
    /// Stripe's session id (`cs_…`).
    public var id: String
    /// Where to send the browser.
    public var url: String
    /// Stripe's `Request-Id` of the call that created it, for the log.
    public var requestID: String?
    /// When Stripe expires it, seconds since the epoch (24 hours after creation unless Stripe says).
    public var expiresAt: Int64?

    /// Creates a session value.
    public init(id: String, url: String, requestID: String? = nil, expiresAt: Int64? = nil) {
        self.id = id
        self.url = url
        self.requestID = requestID
        self.expiresAt = expiresAt
    }
}

/// The Stripe calls the billing loop makes; the seam between the controllers and Stripe, so tests can swap
/// Stripe out. Every call retries as Stripe's libraries do; failures are `CheckoutError`s of the Stripe kind.
public protocol StripeClient: Sendable {
    /// `POST /v1/checkout/sessions`.
    func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError) -> CheckoutSession

    /// `POST /v1/checkout/sessions/{id}/expire`; when the session is no longer open, its status as Stripe has it.
    func expireCheckoutSession(id: String) async throws(CheckoutError) -> StripeSessionState

    /// `GET /v1/subscriptions/{id}`.
    func subscription(id: String) async throws(CheckoutError) -> StripeSubscription

    /// `POST /v1/billing_portal/sessions`: the URL of a portal session for `customerID`.
    func createPortalSession(customerID: String, returnURL: String) async throws(CheckoutError) -> String
}
