import FlyingFox
import FlyingSocks
import Foundation

/// Builds the FlyingFox server with the `/v1` routes, the control routes and a Stripe-style 404.
enum StandInServer {

    /// Seconds FlyingFox lets one handler run; above the hang time so hangs are not cut short with a 500.
    static let handlerTimeoutSeconds: TimeInterval = APIRoute.hangSeconds + 60

    /// Creates a server bound to the configured host and port (0 picks a free one) serving `standIn`.
    static func make(configuration: StandInConfiguration, standIn: StandIn) async throws -> HTTPServer {
        let host = configuration.host, port = configuration.port
        let address: any SocketAddress =
            host.contains(":")
            ? try sockaddr_in6.inet6(ip6: host, port: port)
            : try sockaddr_in.inet(ip4: host, port: port)
        let logger: any Logging = configuration.logging ? StderrLogger() : .disabled
        let server = HTTPServer(
            config: HTTPServer.Configuration(address: address, timeout: handlerTimeoutSeconds, logger: logger))
        let api = APIRoute(standIn: standIn)
        let checkout = CheckoutSessionRoute(standIn: standIn)
        let customers = CustomerRoutes(standIn: standIn)
        let subscriptions = SubscriptionRoutes(standIn: standIn)
        let portal = BillingPortalRoute(standIn: standIn)
        let control = ControlRoutes(standIn: standIn)
        let simulation = SimulationRoutes(standIn: standIn)
        let closing = configuration.closeConnections

        /// Registers `handler` for `route`, adding `Connection: close` when configured.
        func add(_ route: String, _ handler: @Sendable @escaping (HTTPRequest) async throws -> HTTPResponse) async {
            await server.appendRoute(HTTPRoute(stringLiteral: route)) { request in
                var response = try await handler(request)
                if closing, case .httpBody = response.payload { response.headers[.connection] = "close" }
                return response
            }
        }
        /// Registers a `/v1` route: recorded, faults, latency, key check and idempotency come first (`APIRoute`).
        func addAPI(_ route: String, _ answer: @Sendable @escaping (APICall) async -> StandInResponse) async {
            await add(route) { try await api.handle($0, answer) }
        }
        /// Registers a control route answering a `StandInResponse`.
        func addControl(_ route: String, _ answer: @Sendable @escaping (HTTPRequest) async throws -> StandInResponse)
            async
        {
            await add(route) { try await answer($0).httpResponse(requestID: newRequestID()) }
        }

        await addAPI("POST /v1/checkout/sessions") { await checkout.create($0) }
        await addAPI("GET /v1/checkout/sessions/:id") { await checkout.retrieve($0) }
        await addAPI("POST /v1/checkout/sessions/:id/expire") { await checkout.expire($0) }
        await addAPI("POST /v1/customers") { await customers.create($0) }
        await addAPI("GET /v1/customers/:id") { await customers.retrieve($0) }
        await addAPI("GET /v1/subscriptions/:id") { await subscriptions.retrieve($0) }
        await addAPI("GET /v1/subscriptions") { await subscriptions.list($0) }
        await addAPI("POST /v1/billing_portal/sessions") { await portal.create($0) }

        await addControl("POST /_standin/faults") { try await control.appendFaults($0) }
        await addControl("POST /_standin/latency") { try await control.setLatency($0) }
        await addControl("GET /_standin/requests") { await control.listRequests($0) }
        await addControl("POST /_standin/reset") { await control.reset($0) }
        await addControl("GET /_standin/webhook") { await control.webhook($0) }
        await addControl("POST /_standin/webhook") { try await control.setWebhook($0) }
        await addControl("GET /_standin/settings") { await control.settings($0) }
        await addControl("POST /_standin/settings") { try await control.setSettings($0) }
        await addControl("GET /_standin/events") { await control.listEvents($0) }
        await addControl("GET /_standin/deliveries") { await control.listDeliveries($0) }
        await addControl("POST /_standin/inbox") { try await control.receive($0) }
        await addControl("GET /_standin/inbox") { await control.listInbox($0) }
        await addControl("POST /_standin/checkout/sessions/:id/complete") { try await simulation.complete($0) }
        await addControl("POST /_standin/checkout/sessions/:id/expire") { try await simulation.expire($0) }
        await addControl("POST /_standin/subscriptions/:id/update") { try await simulation.update($0) }
        await addControl("POST /_standin/events/:id/deliver") { try await simulation.redeliver($0) }
        await add("*") { try await api.unrecognized($0) }
        return server
    }

    /// Returns the host and port the server is listening on, formatted `host:port` (`[v6]:port` for IPv6).
    static func listeningDescription(of server: HTTPServer) async -> String? {
        switch await server.listeningAddress {
        case .ip4(let address, let port): "\(address):\(port)"
        case .ip6(let address, let port): "[\(address)]:\(port)"
        default: nil
        }
    }

    /// Makes a fresh `req_` identifier.
    static func newRequestID() -> String {
        StripeIdentifier.make("req_", length: 14)
    }
}
