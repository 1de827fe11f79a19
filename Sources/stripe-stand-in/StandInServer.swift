import FlyingFox
import FlyingSocks
import Foundation

/// Builds the FlyingFox server with the checkout route, control routes and a Stripe-style 404.
enum StandInServer {

    /// Seconds FlyingFox lets one handler run; above the hang time so hangs are not cut short with a 500.
    static let handlerTimeoutSeconds: TimeInterval = CheckoutSessionRoute.hangSeconds + 60

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
        let checkout = CheckoutSessionRoute(standIn: standIn)
        let control = ControlRoutes(standIn: standIn)
        let closing = configuration.closeConnections

        /// Registers `handler` for `route`, adding `Connection: close` when configured.
        func add(_ route: String, _ handler: @Sendable @escaping (HTTPRequest) async throws -> HTTPResponse) async {
            await server.appendRoute(HTTPRoute(stringLiteral: route)) { request in
                var response = try await handler(request)
                if closing, case .httpBody = response.payload { response.headers[.connection] = "close" }
                return response
            }
        }
        await add("POST /v1/checkout/sessions") { try await checkout.handle($0) }
        await add("POST /_standin/faults") {
            try await control.appendFaults($0).httpResponse(requestID: newRequestID())
        }
        await add("POST /_standin/latency") { try await control.setLatency($0).httpResponse(requestID: newRequestID()) }
        await add("GET /_standin/requests") { await control.listRequests($0).httpResponse(requestID: newRequestID()) }
        await add("POST /_standin/reset") { await control.reset($0).httpResponse(requestID: newRequestID()) }
        await add("*") { request in
            StandInResponse.unrecognizedURL(method: request.method.rawValue, path: request.path)
                .httpResponse(requestID: newRequestID())
        }
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
