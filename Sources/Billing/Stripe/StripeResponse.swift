import Foundation

/// What one HTTP exchange with Stripe produced, before any decision is made on it.
public struct StripeExchange: Sendable {
    /// The HTTP status.
    public var status: Int
    /// The headers, names lowercased.
    public var headers: [String: String]
    /// The body, after any `Content-Encoding` is undone.
    public var body: Data

    /// An exchange as the transport read it.
    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Stripe's `Request-Id`, when it is a plausible one (it goes to the log).
    var requestID: String? {
        headers["request-id"].flatMap { StripeIdentifier.isPlausible($0) ? $0 : nil }
    }

    /// `Stripe-Should-Retry`, when present.
    var shouldRetry: Bool? {
        switch headers["stripe-should-retry"]?.lowercased() {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// `Retry-After` in seconds, when it is a number of seconds (`delay-seconds`, a fraction allowed).
    var retryAfter: Double? { headers["retry-after"].flatMap(RetryAfter.seconds(in:)) }

    /// The retry view of this exchange.
    public var outcome: RetryPolicy.Outcome {
        .response(status: status, shouldRetry: shouldRetry, retryAfter: retryAfter)
    }
}

/// Reads Stripe's `Retry-After` without trusting it: a number is only ever clamped, never converted blindly.
enum RetryAfter {
    /// The largest value kept, in seconds; anything longer reads as this (a day).
    static let maxSeconds = 86_400.0
    /// The range of the `Retry-After` the client gets on a 503, in whole seconds.
    static let clientRange = 1...Int(RetryPolicy.maxRetryAfter)

    /// Seconds in a `Retry-After` value of ASCII digits with an optional fraction (`7`, `2.5`), clamped to
    /// `0...maxSeconds`; nil for anything else (`NaN`, `inf`, `1e3`, `-1`, an HTTP date, an empty value).
    static func seconds(in value: String) -> Double? {
        let text = value.utf8
        guard !text.isEmpty, text.count <= 64 else { return nil }
        var seenDigit = false
        var seenPoint = false
        for byte in text {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): seenDigit = true
            case UInt8(ascii: ".") where !seenPoint && seenDigit: seenPoint = true
            default: return nil
            }
        }
        guard seenDigit, text.last != UInt8(ascii: "."), let seconds = Double(value) else { return nil }
        // Only digits: a value too long for a Double reads as infinity, which is just "very long".
        return seconds.isFinite ? min(seconds, maxSeconds) : maxSeconds
    }

    /// The whole seconds the client is told to wait: Stripe's value rounded up, within `clientRange`.
    static func forClient(_ seconds: Double?) -> Int {
        guard let seconds, seconds.isFinite else { return clientRange.lowerBound }
        let clamped = min(max(seconds.rounded(.up), Double(clientRange.lowerBound)), Double(clientRange.upperBound))
        return Int(clamped)
    }
}

/// Checks Stripe's identifiers before they are used or logged: short, and letters, digits and `_` only.
enum StripeIdentifier {
    /// The longest identifier accepted (Stripe documents 255 as the limit of its ids).
    static let maxLength = 255

    /// Whether `text` looks like a Stripe identifier (`cs_test_…`, `req_…`).
    static func isPlausible(_ text: String, prefix: String = "") -> Bool {
        let bytes = text.utf8
        guard bytes.count > prefix.utf8.count, bytes.count <= maxLength, text.hasPrefix(prefix) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                true
            default: false
            }
        }
    }
}

/// Stripe's error object: `{"error": {"type", "code", "message", "param"}}`, the string members of it.
struct StripeErrorBody {
    var type: String?
    var code: String?
    var message: String?
    var param: String?

    /// The error object of a body, or nil when the body is not one.
    init?(_ body: Data) {
        guard case .object(let root)? = StripeJSON.parse(body), case .object(let error)? = root["error"] else {
            return nil
        }
        func string(_ name: String) -> String? {
            if case .string(let value)? = error[name] { return value }
            return nil
        }
        type = string("type")
        code = string("code")
        message = string("message")
        param = string("param")
    }
}

/// Stripe's JSON answers, parsed by the same rules as request bodies and tokens (a repeated key: the last wins).
enum StripeJSON {
    /// The parsed body, or nil when it is not JSON.
    static func parse(_ body: Data) -> JSONValue? {
        try? PythonJSON.parse(Array(body))
    }
}

/// Decides what a finished Stripe call means for the client: a session or one of the contract's errors.
public enum StripeResultMapping {
    /// Maps the last exchange (after any retries) to a session or an error; `redact` scrubs text for the log.
    public static func result(
        of exchange: StripeExchange, checkoutHosts: Set<String>, redact: (String) -> String
    ) throws(CheckoutError) -> CheckoutSession {
        let page = try hostedPage(
            of: exchange, object: "checkout.session", idPrefix: "cs_", hosts: checkoutHosts, redact: redact)
        return CheckoutSession(id: page.id, url: page.url, requestID: exchange.requestID)
    }

    /// The id and browser URL of a Stripe object that sends the browser to a page Stripe hosts (a Checkout
    /// Session, a Billing Portal session), checked before any of it reaches the client.
    static func hostedPage(
        of exchange: StripeExchange, object: String, idPrefix: String, hosts: Set<String>,
        redact: (String) -> String
    ) throws(CheckoutError) -> (id: String, url: String) {
        let requestID = exchange.requestID ?? "none"
        guard case .object(let answer) = try json(of: exchange, redact: redact) else {
            throw .stripeRejected(
                reason: "Stripe answered \(exchange.status) with a body that is not a JSON object (request \(requestID))")
        }
        guard case .string(object)? = answer["object"] else {
            throw .stripeRejected(reason: "Stripe's answer is not a \(object) object (request \(requestID))")
        }
        guard case .string(let id)? = answer["id"], StripeIdentifier.isPlausible(id, prefix: idPrefix) else {
            throw .stripeRejected(reason: "Stripe's \(object) has no valid id (request \(requestID))")
        }
        guard case .string(let url)? = answer["url"], !url.isEmpty else {
            throw .stripeRejected(reason: "Stripe's \(object) \(id) has no url (request \(requestID))")
        }
        if let problem = HostedPageURL.violation(in: url, hosts: hosts) {
            throw .stripeRejected(
                reason: "Stripe's \(object) \(id) has a url that is not sent to the browser: \(problem) "
                    + "(request \(requestID))")
        }
        return (id, url)
    }

    /// The JSON of a 2xx answer; any other answer is the contract's error for it (a redirect, a rejection, an
    /// outage with its `Retry-After`).
    static func json(of exchange: StripeExchange, redact: (String) -> String) throws(CheckoutError) -> JSONValue {
        let requestID = exchange.requestID ?? "none"
        switch exchange.status {
        case 200..<300:
            guard let value = StripeJSON.parse(exchange.body) else {
                throw .stripeRejected(
                    reason: "Stripe answered \(exchange.status) with a body that is not a JSON object (request \(requestID))"
                )
            }
            return value
        case 300..<400:
            let location = exchange.headers["location"].map { redact($0).loggable(limit: 200) } ?? "nowhere"
            throw .stripeRejected(
                reason: "Stripe answered \(exchange.status), a redirect to \(location), which is never followed "
                    + "(request \(requestID))")
        case 429, 500..<600:
            throw .stripeUnavailable(
                retryAfter: RetryAfter.forClient(exchange.retryAfter),
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
        guard let error = StripeErrorBody(exchange.body) else { return "" }
        var text = ": \((error.type ?? "error").prefix(100))"
        if let code = error.code { text += "/\(code.prefix(100))" }
        // Redact before cutting, so that a key straddling the cut cannot leave a fragment behind.
        if let message = error.message { text += ": \(redact(message).prefix(300))" }
        if let param = error.param { text += " [param \(param.prefix(100))]" }
        return redact(text)
    }
}
