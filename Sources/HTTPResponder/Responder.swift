import HTTPTypes

/// What a transport serves: one request value in, one response value out.
///
/// The seam between the transport (FastCGI or CGI, which turns bytes into a `Request` and a `Response` back
/// into bytes) and the application (which knows nothing of either). Every request gets an answer: an
/// application maps its own failures to responses, so `respond(to:)` neither throws nor fails.
public protocol Responder: Sendable {
    /// Answers one request.
    func respond(to request: Request) async -> Response

    /// The most body bytes the transport reads for a request with this head, given its own `standard` limit; a
    /// larger body reaches the application as `Request.Body.tooLarge`.
    func bodyLimit(for head: HTTPRequest, standard: Int) -> Int
}

extension Responder {
    /// The transport's own limit, for every request.
    public func bodyLimit(for head: HTTPRequest, standard: Int) -> Int { standard }
}
