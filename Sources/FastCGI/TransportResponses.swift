import HTTPResponder
import HTTPTypes

/// The path every request takes in both modes, and the few answers the transport gives on its own.
enum TransportResponses {
    /// Builds the request from its parameters, reads its body with `readBody` (only once the head is valid, and
    /// given it, for the body's limit), lets `responder` answer, and returns the bytes to write; unusable
    /// parameters get `badRequest`.
    static func answer(
        params: [String: String], responder: some Responder, readBody: (HTTPRequest) -> Request.Body
    ) -> [UInt8] {
        guard let request = request(params: params, readBody: readBody) else {
            return ResponseEncoder.encode(badRequest)
        }
        return ResponseEncoder.encode(AsyncBridge.run { await responder.respond(to: request) })
    }

    /// Builds the request from its parameters and reads its body with `readBody` (only once the head is valid,
    /// and given it); nil when the parameters are unusable, to be answered with `badRequest`.
    static func request(params: [String: String], readBody: (HTTPRequest) -> Request.Body) -> Request? {
        guard let head = try? CGIEnvironment.requestHead(from: params) else { return nil }
        return Request(head: head, body: readBody(head), remoteAddress: params["REMOTE_ADDR"])
    }

    /// A request whose parameters are unusable (no valid `REQUEST_METHOD`).
    static let badRequest = Response(
        head: HTTPResponse(
            status: .badRequest, headerFields: [.contentType: "application/json", .cacheControl: "no-store"]),
        body: Array(#"{"detail":"Bad Request"}"#.utf8)
    )
}
