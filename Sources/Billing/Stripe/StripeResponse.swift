import Foundation

/// What one HTTP exchange with Stripe produced, before any decision is made on it.
struct StripeExchange: Sendable {
    /// The response, when there was one.
    var status: Int
    var headers: [String: String]
    var body: Data

    /// Stripe's `Request-Id`.
    var requestID: String? { headers["request-id"] }

    /// `Stripe-Should-Retry`, when present.
    var shouldRetry: Bool? {
        switch headers["stripe-should-retry"]?.lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// `Retry-After` in seconds, when present and numeric.
    var retryAfter: Double? { headers["retry-after"].flatMap(Double.init) }

    /// The retry view of this exchange.
    var outcome: RetryPolicy.Outcome {
        .response(status: status, shouldRetry: shouldRetry, retryAfter: retryAfter)
    }
}

/// Stripe's error object: `{"error": {"type", "code", "message", "param"}}`.
struct StripeErrorBody: Decodable {
    struct Detail: Decodable {
        var type: String?
        var code: String?
        var message: String?
        var param: String?
    }
    var error: Detail
}

/// Decides what a finished Stripe call means for the client: a session or one of the contract's errors.
enum StripeResultMapping {
    /// Maps the last exchange (after any retries) to a session or an error; `redact` scrubs text for the log.
    static func result(of exchange: StripeExchange, redact: (String) -> String) throws(CheckoutError) -> CheckoutSession
    {
        let requestID = exchange.requestID ?? "none"
        switch exchange.status {
        case 200..<300:
            struct Session: Decodable {
                var id: String
                var url: String?
            }
            guard let session = try? JSONDecoder().decode(Session.self, from: exchange.body) else {
                throw .stripeRejected(
                    reason:
                        "Stripe answered \(exchange.status) with a body that is not a session (request \(requestID))")
            }
            guard let url = session.url, !url.isEmpty else {
                throw .stripeRejected(reason: "Stripe session \(session.id) has no url (request \(requestID))")
            }
            return CheckoutSession(id: session.id, url: url, requestID: exchange.requestID)
        case 429, 500...:
            let retryAfter = exchange.retryAfter.map { max(1, Int($0.rounded(.up))) } ?? 1
            throw .stripeUnavailable(
                retryAfter: retryAfter,
                reason: "Stripe answered \(exchange.status)\(describe(exchange, redact: redact)) (request \(requestID))"
            )
        default:
            throw .stripeRejected(
                reason: "Stripe answered \(exchange.status)\(describe(exchange, redact: redact)) (request \(requestID))"
            )
        }
    }

    /// `: type/code: message [param]` from Stripe's error body, or nothing when the body is not one.
    private static func describe(_ exchange: StripeExchange, redact: (String) -> String) -> String {
        guard let error = try? JSONDecoder().decode(StripeErrorBody.self, from: exchange.body).error else { return "" }
        var text = ": \(error.type ?? "error")"
        if let code = error.code { text += "/\(code)" }
        // Redact before cutting, so that a key straddling the cut cannot leave a fragment behind.
        if let message = error.message { text += ": \(redact(message).prefix(300))" }
        if let param = error.param { text += " [param \(param.prefix(100))]" }
        return redact(text)
    }
}
