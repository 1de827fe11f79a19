import HTTPTypes

/// The routes under the prefix (`routePrefix`, default `/api/v1/billing`), each with its one method.
enum Route: String, Sendable, CaseIterable {
    case checkout
    case subscription
    case portal
    case webhook

    /// The route for a request path, nil for any other path (a trailing slash is another path).
    static func match(path: String, prefix: String) -> Route? {
        guard path.hasPrefix(prefix + "/") else { return nil }
        return Route(rawValue: String(path.dropFirst(prefix.count + 1)))
    }

    /// The method the route answers.
    var method: HTTPRequest.Method {
        self == .subscription ? .get : .post
    }

    /// Whether browsers call it (CORS applies); the webhook is called by Stripe alone, never with CORS.
    var isBrowserRoute: Bool { self != .webhook }

    /// Whether it needs the billing state (stateless, only checkout is served).
    var needsState: Bool { self != .checkout }
}
