import HTTPResponder
import HTTPTypes

/// Handles an authenticated-to-be `POST` on the endpoint: auth, body, price, Stripe, in that order.
struct CheckoutController: Sendable {
    let settings: Settings
    let verifier: TokenVerifier
    let stripe: any StripeClient
    let redirectPolicy: RedirectURLPolicy
    let prices: PriceResolver

    init(settings: Settings, verifier: TokenVerifier, stripe: any StripeClient) {
        self.settings = settings
        self.verifier = verifier
        self.stripe = stripe
        self.redirectPolicy = RedirectURLPolicy(allowedOrigins: settings.allowedRedirectOrigins)
        self.prices = PriceResolver(settings: settings.stripe)
    }

    /// What the log line wants to know about a handled request.
    struct Trace: Sendable {
        var userID: String?
        var stripeRequestID: String?
    }

    /// Creates the session and answers `{"url": …}`, or throws the contract's error.
    func checkout(_ request: Request, trace: inout Trace) async throws(CheckoutError) -> Response {
        // Authentication first: an anonymous caller learns nothing about how its body would be judged.
        let token = try BearerToken.extract(from: request.head.headerFields)
        let user = try await verifier.identity(for: token)
        trace.userID = user.userID
        let bytes: [UInt8]
        switch request.body {
        case .bytes(let body): bytes = body
        case .tooLarge: throw .bodyTooLarge
        case .malformed(let reason): throw .unreadableBody(reason: reason)
        }
        let body = try CheckoutBody.validate(
            body: bytes,
            contentType: request.head.headerFields[.contentType],
            strictContentType: settings.strictContentType,
            defaults: (settings.defaultSuccessURL, settings.defaultCancelURL),
            policy: redirectPolicy
        )
        let price = try prices.price(for: user)
        let parameters = CheckoutSessionParameters(
            priceID: price,
            successURL: body.successURL,
            cancelURL: body.cancelURL,
            userID: user.userID,
            customerID: user.stripeCustomerID,
            customerEmail: user.email,
            allowPromotionCodes: settings.stripe.allowPromotionCodes,
            automaticTax: settings.stripe.automaticTax,
            trialPeriodDays: settings.stripe.trialPeriodDays
        )
        let idempotencyKey: String
        if let clientKey = request.head.headerFields[.idempotencyKey], !clientKey.isEmpty {
            idempotencyKey = URLSessionStripeClient.derivedIdempotencyKey(clientKey: clientKey, userID: user.userID)
        } else {
            idempotencyKey = URLSessionStripeClient.freshIdempotencyKey()
        }
        let session = try await stripe.createCheckoutSession(parameters, idempotencyKey: idempotencyKey)
        trace.stripeRequestID = session.requestID
        return .json(.ok, .object(JSONObject([("url", .string(session.url))])))
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`, which a client may send to make its own retries safe.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
