/// A created Checkout Session, as much of it as the endpoint uses.
public struct CheckoutSession: Sendable, Equatable {
    /// Stripe's session id (`cs_…`).
    public var id: String
    /// Where to send the browser.
    public var url: String
    /// Stripe's `Request-Id` of the call that created it, for the log.
    public var requestID: String?

    /// Creates a session value.
    public init(id: String, url: String, requestID: String? = nil) {
        self.id = id
        self.url = url
        self.requestID = requestID
    }
}

/// Creates Checkout Sessions; the seam between the controller and Stripe, so tests can swap Stripe out.
public protocol StripeClient: Sendable {
    /// Creates a session, retrying as Stripe's libraries do; failures are `CheckoutError`s of the Stripe kind.
    func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError)
        -> CheckoutSession
}
