import HTTPResponder
import HTTPTypes

/// Cross-origin rules: which browser origins may call the endpoint, and the headers that say so.
struct CORSPolicy: Sendable {
    /// Allowed origins, exactly as browsers send them in `Origin` (no trailing slash).
    let origins: Set<String>

    /// True when CORS is configured at all.
    var isEnabled: Bool { !origins.isEmpty }

    /// The request's `Origin`, when it is an allowed one.
    func allowedOrigin(of request: HTTPRequest) -> String? {
        guard isEnabled, let origin = request.headerFields[.origin], origins.contains(origin) else { return nil }
        return origin
    }

    /// A preflight is an OPTIONS request carrying `Origin` and `Access-Control-Request-Method` (as Starlette reads it).
    func isPreflight(_ request: HTTPRequest) -> Bool {
        isEnabled && request.method == .options && request.headerFields[.origin] != nil
            && request.headerFields[.accessControlRequestMethod] != nil
    }

    /// The answer to a preflight: 204 with the allow headers for an allowed origin asking for POST, else 400.
    func preflightResponse(to request: HTTPRequest, method: HTTPRequest.Method = .post) -> Response {
        guard let origin = allowedOrigin(of: request),
            request.headerFields[.accessControlRequestMethod]?.uppercased() == method.rawValue
        else {
            return .json(.badRequest, .object(JSONObject([("detail", "Disallowed CORS request")])))
        }
        let fields: HTTPFields = [
            .accessControlAllowOrigin: origin,
            .accessControlAllowMethods: "\(method.rawValue), OPTIONS",
            .accessControlAllowHeaders: "Authorization, Content-Type, Idempotency-Key",
            .accessControlMaxAge: "600",
            .vary: "Origin",
        ]
        return Response(head: HTTPResponse(status: .noContent, headerFields: fields), body: [])
    }

    /// Adds `Access-Control-Allow-Origin` to an ordinary response for an allowed origin.
    func decorate(_ response: inout Response, for request: HTTPRequest) {
        guard let origin = allowedOrigin(of: request) else { return }
        response.head.headerFields[.accessControlAllowOrigin] = origin
        response.head.headerFields[.vary] = "Origin"
    }
}
