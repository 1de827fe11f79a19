import HTTPResponder
import HTTPTypes
import Logging

/// The whole endpoint as one function from a request value to a response value; knows nothing of FastCGI.
public struct CheckoutApplication: Responder {
    private let routePath: String?
    private let controller: CheckoutController?
    private let cors: CORSPolicy
    private let logger: Logger

    /// The endpoint with valid settings, a token verifier and a Stripe client.
    public init(settings: Settings, verifier: TokenVerifier, stripe: any StripeClient, logger: Logger) {
        self.routePath = settings.routePath
        self.controller = CheckoutController(settings: settings, verifier: verifier, stripe: stripe)
        self.cors = CORSPolicy(origins: settings.corsOrigins)
        self.logger = logger
    }

    /// The endpoint when settings are missing or invalid (CGI mode): every request gets the contract's 500.
    public static func unconfigured(logger: Logger) -> CheckoutApplication {
        CheckoutApplication(logger: logger)
    }

    private init(logger: Logger) {
        self.routePath = nil
        self.controller = nil
        self.cors = CORSPolicy(origins: [])
        self.logger = logger
    }

    /// Answers one request and writes its log line.
    public func respond(to request: Request) async -> Response {
        let started = ContinuousClock.now
        var trace = CheckoutController.Trace()
        var response: Response
        var failure: CheckoutError?
        do {
            response = try await route(request, trace: &trace)
        } catch {
            failure = error
            response = error.response
        }
        cors.decorate(&response, for: request.head)
        log(request, response: response, failure: failure, trace: trace, elapsed: ContinuousClock.now - started)
        return response
    }

    private func route(_ request: Request, trace: inout CheckoutController.Trace) async throws(CheckoutError)
        -> Response
    {
        guard let controller, let routePath else { throw .notConfigured }
        guard request.routePath == routePath else { throw .notFound }
        if cors.isPreflight(request.head) {
            return cors.preflightResponse(to: request.head)
        }
        guard request.head.method == .post else {
            throw .methodNotAllowed(allow: cors.isEnabled ? "POST, OPTIONS" : "POST")
        }
        // The size limit comes before authentication: nobody gets to make the process hold a huge body.
        if request.body == .tooLarge { throw .bodyTooLarge }
        return try await controller.checkout(request, trace: &trace)
    }

    private func log(
        _ request: Request, response: Response, failure: CheckoutError?,
        trace: CheckoutController.Trace, elapsed: Duration
    ) {
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        var metadata: Logger.Metadata = [
            "method": "\(request.head.method.rawValue)",
            "path": "\(request.routePath.loggable(limit: 200))",
            "status": "\(response.head.status.code)",
            "duration_ms": "\((milliseconds * 10).rounded() / 10)",
        ]
        if let user = trace.userID { metadata["user"] = "\(user.loggable(limit: 100))" }
        if let id = trace.stripeRequestID { metadata["stripe_request_id"] = "\(id)" }
        if let reason = failure?.logReason { metadata["reason"] = "\(reason)" }
        let level: Logger.Level = response.head.status.code >= 500 ? .error : .info
        logger.log(level: level, "request", metadata: metadata)
    }
}
