import Crypto
import Foundation
import Logging
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real Stripe client: one long-lived `URLSession`, Stripe's retry rules, one deadline for all tries.
public final class URLSessionStripeClient: StripeClient {
    private let settings: StripeSettings
    private let session: URLSession
    private let policy: RetryPolicy
    /// The parts of every request that never change, built once (setting headers one by one showed in profiles).
    private let template: URLRequest
    private let logger: Logger
    private let sleep: @Sendable (Double) async -> Void

    /// Creates a client; `maxConnections` should be at least the number of requests served at once.
    public init(
        settings: StripeSettings, maxConnections: Int, logger: Logger,
        sleep: @escaping @Sendable (Double) async -> Void = { try? await Task.sleep(for: .seconds($0)) }
    ) {
        self.settings = settings
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
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(maxConnections, 8)
        // Never a proxy from the environment: in CGI mode `HTTP_PROXY` is the client's `Proxy:` header (httpoxy).
        configuration.connectionProxyDictionary = [:]
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        // Without this, URLSession parses every Set-Cookie-less response for cookies anyway (4.5 % of a profile).
        configuration.httpShouldSetCookies = false
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        self.session = URLSession(configuration: configuration)
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
        let deadline = ContinuousClock.now + .milliseconds(Int(settings.timeoutSeconds * 1000))
        let request = makeRequest(parameters, idempotencyKey: idempotencyKey)
        var retries = 0
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw .stripeTimedOut }
            let attempt = await send(request, timeout: policy.tryTimeout(remaining: remaining, retriesSoFar: retries))
            let outcome: RetryPolicy.Outcome
            switch attempt {
            case .exchange(let exchange): outcome = exchange.outcome
            case .failed(let failure, _): outcome = failure
            }
            if policy.shouldRetry(outcome, retriesSoFar: retries) {
                retries += 1
                let wait = policy.delay(beforeRetry: retries, jitter: Double.random(in: 0...1), after: outcome)
                if ContinuousClock.now + .milliseconds(Int(wait * 1000)) < deadline {
                    logger.notice(
                        "retrying Stripe call", metadata: ["retry": "\(retries)", "after": "\(describe(attempt))"])
                    await sleep(wait)
                    continue
                }
            }
            switch attempt {
            case .exchange(let exchange):
                return try StripeResultMapping.result(of: exchange, redact: redact)
            case .failed(.timedOut, _):
                throw .stripeTimedOut
            case .failed(_, let reason):
                throw .stripeUnavailable(retryAfter: 1, reason: redact(reason))
            }
        }
    }

    private enum Attempt: Sendable {
        case exchange(StripeExchange)
        case failed(RetryPolicy.Outcome, String)
    }

    private func describe(_ attempt: Attempt) -> String {
        switch attempt {
        case .exchange(let exchange): "status \(exchange.status), request \(exchange.requestID ?? "none")"
        case .failed(_, let reason): redact(reason)
        }
    }

    private func makeRequest(_ parameters: CheckoutSessionParameters, idempotencyKey: String) -> URLRequest {
        var request = template
        request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = Data(FormEncoder.encode(parameters.formFields))
        return request
    }

    /// One try, bounded by `timeout`: the task is cancelled when the time is up, whatever URLSession does.
    private func send(_ request: URLRequest, timeout: Duration) async -> Attempt {
        var request = request
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        request.timeoutInterval = seconds + 1
        let once = Once()
        return await withCheckedContinuation { continuation in
            let deadline = DeadlineBox()
            let task = session.dataTask(with: request) { data, response, error in
                deadline.cancel()
                let attempt: Attempt
                if let http = response as? HTTPURLResponse, error == nil {
                    var headers: [String: String] = [:]
                    for (name, value) in http.allHeaderFields {
                        headers[String(describing: name).lowercased()] = String(describing: value)
                    }
                    attempt = .exchange(StripeExchange(status: http.statusCode, headers: headers, body: data ?? Data()))
                } else {
                    attempt = Self.failure(error)
                }
                if once.claim() { continuation.resume(returning: attempt) }
            }
            // Our own timer: URLSession's can stall on a kept-alive connection the server dropped.
            deadline.set(
                TryDeadlines.shared.schedule(after: seconds) {
                    guard once.claim() else { return }
                    task.cancel()
                    continuation.resume(returning: .failed(.timedOut, "no answer within the deadline"))
                })
            task.resume()
        }
    }

    private static func failure(_ error: (any Error)?) -> Attempt {
        guard let urlError = error as? URLError else {
            return .failed(
                .connectionFailed,
                "connection failed: \(error.map { String(describing: type(of: $0)) } ?? "no response")")
        }
        switch urlError.code {
        case .timedOut:
            return .failed(.timedOut, "timed out")
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateNotYetValid, .serverCertificateHasUnknownRoot, .clientCertificateRejected,
            .clientCertificateRequired:
            return .failed(.tlsFailed, "TLS failed (URLError \(urlError.code.rawValue))")
        default:
            return .failed(.connectionFailed, "connection failed (URLError \(urlError.code.rawValue))")
        }
    }

    /// Removes the secret key from text bound for the log.
    private func redact(_ text: String) -> String {
        let key = settings.secretKey.value
        guard !key.isEmpty, text.contains(key) else { return text }
        return text.replacingOccurrences(of: key, with: "<redacted>")
    }
}

/// The deadline of one try, cancelled as soon as the try finishes.
private final class DeadlineBox: Sendable {
    private let id = Mutex<TryDeadlines.ID?>(nil)

    func set(_ scheduled: TryDeadlines.ID) {
        id.withLock { $0 = scheduled }
    }

    func cancel() {
        if let scheduled = id.withLock({ $0 }) { TryDeadlines.shared.cancel(scheduled) }
    }
}

/// Lets exactly one of two racing callbacks resume a continuation.
private final class Once: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { wasClaimed in
            defer { wasClaimed = true }
            return !wasClaimed
        }
    }
}
