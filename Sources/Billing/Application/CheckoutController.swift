import BillingStore
import Foundation
import HTTPResponder
import HTTPTypes

/// Handles an authenticated-to-be `POST` on the endpoint: auth, body, price, Stripe, in that order.
struct CheckoutController: Sendable {
    let settings: Settings
    let verifier: TokenVerifier
    let stripe: any StripeClient
    let redirectPolicy: RedirectURLPolicy
    let prices: PriceResolver
    /// The billing state, when there is one: the user's customer, 409 for the subscribed, one open session.
    let store: (any BillingStore)?

    init(settings: Settings, verifier: TokenVerifier, stripe: any StripeClient, store: (any BillingStore)? = nil) {
        self.settings = settings
        self.verifier = verifier
        self.stripe = stripe
        self.redirectPolicy = RedirectURLPolicy(allowedOrigins: settings.allowedRedirectOrigins)
        self.prices = PriceResolver(settings: settings.stripe)
        self.store = store
    }

    /// The caller's identity from the bearer token, or the contract's 401.
    func authenticate(_ request: Request, trace: inout Trace) async throws(CheckoutError) -> UserIdentity {
        let token = try BearerToken.extract(from: request.head.headerFields)
        let user = try await verifier.identity(for: token)
        trace.userID = user.userID
        return user
    }

    /// What the log line wants to know about a handled request.
    struct Trace: Sendable {
        var userID: String?
        var stripeRequestID: String?
        /// The webhook's event, and what became of it (`applied`, `duplicate`).
        var eventID: String?
        var eventType: String?
        var eventOutcome: String?
    }

    /// Creates the session and answers `{"url": …}`, or throws the contract's error.
    func checkout(_ request: Request, trace: inout Trace) async throws(CheckoutError) -> Response {
        // Authentication first: an anonymous caller learns nothing about how its body would be judged.
        let user = try await authenticate(request, trace: &trace)
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
        // One Stripe customer per user: the store's, else the token's claim, else Checkout makes one from the email.
        var customerID = user.stripeCustomerID
        var flow: (CheckoutFlow, known: (state: CheckoutState, claim: String?))?
        if let store {
            let loop = CheckoutFlow(
                store: store, stripe: stripe, leaseSeconds: 2 * settings.stripe.timeoutSeconds + 5,
                now: { Date().timeIntervalSince1970 }, pause: { try? await Task.sleep(for: .milliseconds(50)) })
            let known = try await loop.read(
                userID: user.userID,
                request: SessionRequest(priceID: price, successURL: body.successURL, cancelURL: body.cancelURL))
            customerID = known.state.customerID ?? customerID
            flow = (loop, known)
        }
        let parameters = CheckoutSessionParameters(
            priceID: price,
            successURL: body.successURL,
            cancelURL: body.cancelURL,
            userID: user.userID,
            customerID: customerID,
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
        let session: CheckoutSession
        if let (flow, known) = flow {
            session = try await flow.session(for: parameters, known: known, idempotencyKey: idempotencyKey)
        } else {
            session = try await stripe.createCheckoutSession(parameters, idempotencyKey: idempotencyKey)
        }
        trace.stripeRequestID = session.requestID
        return .json(.ok, .object(JSONObject([("url", .string(session.url))])))
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`, which a client may send to make its own retries safe.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
