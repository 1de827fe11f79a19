import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real Stripe client: Stripe's retry rules over a transport, one deadline for all tries.
public final class URLSessionStripeClient: StripeClient {
    private let settings: StripeSettings
    private let transport: any StripeTransport
    private let policy: RetryPolicy
    /// The parts of every request that never change, built once (setting headers one by one showed in profiles).
    private let template: URLRequest
    private let logger: Logger
    private let sleep: @Sendable (Double) async -> Void

    /// Creates a client; `maxConnections` should be at least the number of requests served at once.
    public convenience init(
        settings: StripeSettings, maxConnections: Int, logger: Logger,
        sleep: @escaping @Sendable (Double) async -> Void = { try? await Task.sleep(for: .seconds($0)) }
    ) {
        self.init(
            settings: settings, transport: URLSessionTransport(maxConnections: maxConnections), logger: logger,
            sleep: sleep)
    }

    /// Creates a client over any transport (tests pass a scripted one).
    init(
        settings: StripeSettings, transport: any StripeTransport, logger: Logger,
        sleep: @escaping @Sendable (Double) async -> Void
    ) {
        self.settings = settings
        self.transport = transport
        self.policy = RetryPolicy(maxRetries: settings.maxNetworkRetries)
        var template = URLRequest(url: URL(string: settings.apiBase + "/v1/checkout/sessions")!)
        template.httpMethod = "POST"
        template.allHTTPHeaderFields = [
            "Authorization": "Bearer \(settings.secretKey.value)",
            "Content-Type": "application/x-www-form-urlencoded",
            "Stripe-Version": settings.apiVersion,
            "User-Agent": "billing-checkout/1.0",
        ]
        self.template = template
        self.logger = logger
        self.sleep = sleep
    }

    /// Derives the key sent to Stripe from a client's `Idempotency-Key` and the user, so that a client's
    /// retry replays the same session while two users can never collide on one key.
    public static func derivedIdempotencyKey(clientKey: String, userID: String) -> String {
        let digest = SHA256.hash(data: Array("\(userID)\u{0}\(clientKey)".utf8))
        return "bc-" + digest.map { String(format: "%02x", $0) }.joined()
    }

    /// A fresh key for a request that brought none of its own.
    public static func freshIdempotencyKey() -> String {
        "bc-" + UUID().uuidString.lowercased()
    }

    /// Creates a Checkout Session, retrying per `RetryPolicy` within `settings.timeoutSeconds`.
    public func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError) -> CheckoutSession
    {
        let exchange = try await perform(
            method: "POST", path: "/v1/checkout/sessions", form: parameters.formFields, idempotencyKey: idempotencyKey)
        var session = try StripeResultMapping.result(
            of: exchange, checkoutHosts: settings.checkoutHosts, redact: redact)
        if case .object(let object)? = StripeJSON.parse(exchange.body) {
            session.expiresAt = StripeObjects.integer(object["expires_at"])
        }
        return session
    }

    /// Expires an open Checkout Session; a session that is no longer open is answered with its status.
    public func expireCheckoutSession(id: String) async throws(CheckoutError) -> StripeSessionState {
        let path = "/v1/checkout/sessions/\(try Self.pathComponent(id, prefix: "cs_"))"
        let expired = try await perform(
            method: "POST", path: path + "/expire", form: [], idempotencyKey: Self.freshIdempotencyKey())
        if (200..<300).contains(expired.status) { return try sessionState(expired) }
        // Stripe refuses to expire a session that is complete or already expired: read which it is.
        guard expired.status == 400 else { return try sessionState(expired) }
        return try sessionState(try await perform(method: "GET", path: path, form: [], idempotencyKey: nil))
    }

    /// Reads a subscription.
    public func subscription(id: String) async throws(CheckoutError) -> StripeSubscription {
        let path = "/v1/subscriptions/\(try Self.pathComponent(id, prefix: "sub_"))"
        let exchange = try await perform(method: "GET", path: path, form: [], idempotencyKey: nil)
        let value = try StripeResultMapping.json(of: exchange, redact: redact)
        guard let subscription = StripeObjects.subscription(value) else {
            throw .stripeRejected(
                reason: "Stripe's answer is not a subscription (request \(exchange.requestID ?? "none"))")
        }
        return subscription
    }

    /// Creates a Billing Portal session and returns its URL, checked like a Checkout URL.
    public func createPortalSession(customerID: String, returnURL: String) async throws(CheckoutError) -> String {
        let exchange = try await perform(
            method: "POST", path: "/v1/billing_portal/sessions",
            form: [("customer", customerID), ("return_url", returnURL)], idempotencyKey: Self.freshIdempotencyKey())
        if exchange.status == 400, let error = StripeErrorBody(exchange.body), let message = error.message,
            message.contains("No configuration provided")
        {
            throw .portalNotConfigured(reason: "Stripe: \(redact(message).prefix(300))")
        }
        return try StripeResultMapping.hostedPage(
            of: exchange, object: "billing_portal.session", idPrefix: "bps_", hosts: settings.portalHosts,
            redact: redact
        ).url
    }

    private func sessionState(_ exchange: StripeExchange) throws(CheckoutError) -> StripeSessionState {
        let value = try StripeResultMapping.json(of: exchange, redact: redact)
        guard let state = StripeObjects.sessionState(value) else {
            throw .stripeRejected(
                reason: "Stripe's answer is not a checkout.session (request \(exchange.requestID ?? "none"))")
        }
        return state
    }

    /// An id as it may appear in a path: a Stripe id, nothing that could change the path.
    private static func pathComponent(_ id: String, prefix: String) throws(CheckoutError) -> String {
        guard StripeIdentifier.isPlausible(id, prefix: prefix) else {
            throw .stripeRejected(reason: "refused to call Stripe with the id \(id.loggable(limit: 60))")
        }
        return id
    }

    /// One call with Stripe's retry rules within `settings.timeoutSeconds`: the last answer, whatever its
    /// status, for the caller to map; no answer at all is a timeout or unavailable.
    private func perform(method: String, path: String, form: [(String, String)], idempotencyKey: String?)
        async throws(CheckoutError) -> StripeExchange
    {
        let deadline = ContinuousClock.now + .milliseconds(Int(settings.timeoutSeconds * 1000))
        let request = makeRequest(method: method, path: path, form: form, idempotencyKey: idempotencyKey)
        var retries = 0
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw .stripeTimedOut }
            let attempt = await transport.send(
                request, timeout: policy.tryTimeout(remaining: remaining, retriesSoFar: retries))
            let outcome: RetryPolicy.Outcome
            switch attempt {
            case .exchange(let exchange): outcome = exchange.outcome
            case .failed(let failure, _): outcome = failure
            case .refused(let reason): throw .stripeRejected(reason: redact(reason))
            }
            if policy.shouldRetry(outcome, retriesSoFar: retries) {
                retries += 1
                let wait = policy.delay(beforeRetry: retries, jitter: Double.random(in: 0...1), after: outcome)
                if ContinuousClock.now + .milliseconds(Int(wait * 1000)) < deadline {
                    logger.notice(
                        "retrying Stripe call",
                        metadata: ["call": "\(method) \(path)", "retry": "\(retries)", "after": "\(describe(attempt))"])
                    await sleep(wait)
                    continue
                }
            }
            switch attempt {
            case .exchange(let exchange):
                return exchange
            case .failed(.timedOut, _):
                throw .stripeTimedOut
            case .failed(_, let reason):
                throw .stripeUnavailable(retryAfter: 1, reason: redact(reason))
            case .refused(let reason):
                throw .stripeRejected(reason: redact(reason))
            }
        }
    }

    private func describe(_ attempt: StripeAttempt) -> String {
        switch attempt {
        case .exchange(let exchange): "status \(exchange.status), request \(exchange.requestID ?? "none")"
        case .failed(_, let reason), .refused(let reason): redact(reason)
        }
    }

    private func makeRequest(method: String, path: String, form: [(String, String)], idempotencyKey: String?)
        -> URLRequest
    {
        var request = template
        let encoded = FormEncoder.encode(form)
        if method == "GET" {
            request.url = URL(string: settings.apiBase + path + (encoded.isEmpty ? "" : "?" + String(decoding: encoded, as: UTF8.self)))
            request.setValue(nil, forHTTPHeaderField: "Content-Type")
        } else {
            request.url = URL(string: settings.apiBase + path)
            request.httpBody = Data(encoded)
        }
        request.httpMethod = method
        if let idempotencyKey { request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key") }
        return request
    }

    /// Removes the secret key from text bound for the log.
    private func redact(_ text: String) -> String {
        let key = settings.secretKey.value
        guard !key.isEmpty, text.contains(key) else { return text }
        return text.replacingOccurrences(of: key, with: "<redacted>")
    }
}
