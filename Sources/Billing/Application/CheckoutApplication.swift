import BillingStore
import Foundation
import HTTPResponder
import HTTPTypes
import Logging

/// The billing endpoints as one function from a request value to a response value; knows nothing of FastCGI,
/// nor of which database holds the state.
public struct CheckoutApplication: Responder {
    private let prefix: String?
    private let controller: CheckoutController?
    private let loop: Loop?
    private let cors: CORSPolicy
    private let logger: Logger

    /// The routes that need the billing state.
    private struct Loop: Sendable {
        let subscription: SubscriptionController
        let portal: PortalController
        /// Nil without a webhook secret: the webhook then answers 500 `Billing is not configured`.
        let webhook: WebhookController?
        let webhookMaxBodyBytes: Int
    }

    /// The endpoints with valid settings, a token verifier, a Stripe client and the billing state (nil:
    /// stateless, checkout only).
    public init(
        settings: Settings, verifier: TokenVerifier, stripe: any StripeClient, store: (any BillingStore)? = nil,
        logger: Logger
    ) {
        self.prefix = settings.loop.routePrefix
        let controller = CheckoutController(settings: settings, verifier: verifier, stripe: stripe, store: store)
        self.controller = controller
        if let store {
            let signature =
                settings.loop.webhookSecrets.isEmpty
                ? nil
                : WebhookSignature(
                    secrets: settings.loop.webhookSecrets, toleranceSeconds: settings.loop.webhookToleranceSeconds)
            self.loop = Loop(
                subscription: SubscriptionController(store: store, settings: settings),
                portal: PortalController(
                    store: store, stripe: stripe, redirectPolicy: controller.redirectPolicy,
                    defaultReturnURL: settings.defaultReturnURL, strictContentType: settings.strictContentType),
                webhook: signature.map {
                    WebhookController(signature: $0, store: store, stripe: stripe, now: { Date().timeIntervalSince1970 })
                },
                webhookMaxBodyBytes: settings.loop.webhookMaxBodyBytes)
        } else {
            self.loop = nil
        }
        self.cors = CORSPolicy(origins: settings.corsOrigins)
        self.logger = logger
    }

    /// The webhook's own cap on its route (Stripe's events can be larger than a browser's body); the
    /// transport's `standard` cap on every other path.
    public func bodyLimit(for head: HTTPRequest, standard: Int) -> Int {
        guard let loop, let prefix, loop.webhook != nil,
            Route.match(path: Request(head: head, body: .bytes([])).routePath, prefix: prefix) == .webhook
        else { return standard }
        return loop.webhookMaxBodyBytes
    }

    /// The endpoint when settings are missing or invalid (CGI mode): every request gets the contract's 500.
    public static func unconfigured(logger: Logger) -> CheckoutApplication {
        CheckoutApplication(logger: logger)
    }

    private init(logger: Logger) {
        self.prefix = nil
        self.controller = nil
        self.loop = nil
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
        // CORS is for browsers; the webhook is Stripe's alone.
        if let prefix, Route.match(path: request.routePath, prefix: prefix) != .webhook {
            cors.decorate(&response, for: request.head)
        }
        log(request, response: response, failure: failure, trace: trace, elapsed: ContinuousClock.now - started)
        return response
    }

    private func route(_ request: Request, trace: inout CheckoutController.Trace) async throws(CheckoutError)
        -> Response
    {
        guard let controller, let prefix else { throw .notConfigured }
        guard let route = Route.match(path: request.routePath, prefix: prefix) else { throw .notFound }
        if route.needsState && loop == nil { throw .notFound }
        if route.isBrowserRoute && cors.isPreflight(request.head) {
            return cors.preflightResponse(to: request.head, method: route.method)
        }
        guard request.head.method == route.method else {
            let allow = route.method.rawValue
            throw .methodNotAllowed(allow: cors.isEnabled && route.isBrowserRoute ? "\(allow), OPTIONS" : allow)
        }
        // The size limit comes before authentication: nobody gets to make the process hold a huge body.
        if request.body == .tooLarge { throw .bodyTooLarge }
        switch route {
        case .checkout:
            return try await controller.checkout(request, trace: &trace)
        case .subscription:
            let user = try await controller.authenticate(request, trace: &trace)
            guard let loop else { throw .notFound }
            return .json(.ok, try await loop.subscription.status(of: user.userID))
        case .portal:
            let user = try await controller.authenticate(request, trace: &trace)
            guard let loop else { throw .notFound }
            return .json(
                .ok,
                try await loop.portal.portal(
                    for: user, body: try Self.bytes(of: request), contentType: request.head.headerFields[.contentType]))
        case .webhook:
            guard let webhook = loop?.webhook else { throw .webhookNotConfigured }
            return try await webhook.receive(
                body: try Self.bytes(of: request), headers: request.head.headerFields, trace: &trace)
        }
    }

    private static func bytes(of request: Request) throws(CheckoutError) -> [UInt8] {
        switch request.body {
        case .bytes(let body): body
        case .tooLarge: throw .bodyTooLarge
        case .malformed(let reason): throw .unreadableBody(reason: reason)
        }
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
        if let id = trace.eventID { metadata["event"] = "\(id)" }
        if let type = trace.eventType { metadata["event_type"] = "\(type)" }
        if let outcome = trace.eventOutcome { metadata["event_outcome"] = "\(outcome)" }
        if let reason = failure?.logReason { metadata["reason"] = "\(reason)" }
        let level: Logger.Level = response.head.status.code >= 500 ? .error : .info
        logger.log(level: level, "request", metadata: metadata)
    }
}
