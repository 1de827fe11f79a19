import FlyingFox
import Foundation

/// A scripted misbehaviour applied to the next `/v1` request it matches.
enum Fault: Sendable, Equatable {
    /// Answer with this status and a Stripe error body.
    case status(code: Int, shouldRetry: Bool?, errorCode: String?)
    /// Sleep this many milliseconds, then handle normally.
    case latency(milliseconds: Int)
    /// Never answer; the connection stays open.
    case hang
    /// Answer with an HTML body instead of JSON.
    case nonJSON(status: Int)
    /// Close the connection without writing any response bytes.
    case drop
    /// Handle normally but leave `url` out of the answered object (a Checkout or portal session).
    case noURL
    /// Answer exactly this, whatever was asked.
    case answer(CraftedAnswer)
    /// Answer a Stripe error with this status whose message holds the whole key the request authenticated with,
    /// unmasked (Stripe masks it: `sk_test_****1234`), so that only the client's own redaction keeps it out of a log.
    case echoKey(status: Int)

    /// Makes the error response for a `.status` fault in Stripe's format.
    static func statusResponse(code: Int, shouldRetry: Bool?, errorCode: String?) -> StandInResponse {
        var response: StandInResponse
        if code == 429 {
            response = .stripeError(
                code, type: "rate_limit_error", code: errorCode ?? "rate_limit",
                message:
                    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
            )
        } else {
            response = .stripeError(
                code, type: "api_error", code: errorCode,
                message:
                    "The stand-in injected a \(code) error (fault injection).")
        }
        if let shouldRetry {
            response.headers["Stripe-Should-Retry"] = shouldRetry ? "true" : "false"
        }
        return response
    }

    /// Makes the error response for an `.echoKey` fault: the key from `authorization`, whole, in the message.
    static func echoKeyResponse(status: Int, authorization: String?) -> StandInResponse {
        let key = APIKeyCheck.key(fromAuthorization: authorization) ?? ""
        return .stripeError(
            status, type: status >= 500 ? "api_error" : "invalid_request_error", code: nil,
            message: "Invalid API Key provided: \(key) (echoKey fault injection: Stripe masks the key, this does not)")
    }

    /// Makes the HTML response for a `.nonJSON` fault.
    static func nonJSONResponse(status: Int) -> StandInResponse {
        StandInResponse(status: status, headers: ["Content-Type": "text/html"], body: Data("<html>oops</html>".utf8))
    }
}

/// A fault waiting in the queue for a request it applies to.
struct QueuedFault: Sendable, Equatable {
    /// What happens to that request.
    let fault: Fault
    /// Applies only to paths starting with this (e.g. `/v1/subscriptions/`); `nil` matches every `/v1` route.
    let pathPrefix: String?
    /// Applies only to this method (e.g. `GET`); `nil` matches every method.
    let method: String?

    /// Whether the fault applies to a request with `method` and `path`.
    func applies(method: String, path: String) -> Bool {
        (pathPrefix.map { path.hasPrefix($0) } ?? true) && (self.method.map { $0.uppercased() == method } ?? true)
    }
}

/// The JSON shape of one fault in `POST /_standin/faults`.
struct FaultDescription: Decodable, Sendable {
    /// One of `status`, `latency`, `hang`, `nonJSON`, `drop`, `noURL`, `answer`, `echoKey`.
    let kind: String
    /// Status code for `status` (default 500), `nonJSON` (default 200) and `echoKey` (default 401).
    let status: Int?
    /// Milliseconds for `latency`.
    let ms: Int?
    /// Optional `Stripe-Should-Retry` header value for `status`.
    let shouldRetry: Bool?
    /// Optional Stripe error code for `status`.
    let code: String?
    /// For `answer`: headers, a body (repeated `repeat` times), or `gzipBytes` of compressed `0`s.
    let headers: [String: String]?
    let body: String?
    let `repeat`: Int?
    let gzipBytes: Int?
    /// Optional path prefix the request must have, e.g. `/v1/subscriptions/`.
    let path: String?
    /// Optional method the request must have, e.g. `GET`.
    let method: String?

    /// The fault with its filters, or a message saying what is wrong.
    func queued() -> Result<QueuedFault, FaultDescriptionError> {
        if let path, !path.hasPrefix("/") {
            return .failure(.init(message: "path must start with /, e.g. /v1/subscriptions/"))
        }
        return fault().map { QueuedFault(fault: $0, pathPrefix: path, method: method) }
    }

    /// Validates the description and converts it to a fault, or returns a message saying what is wrong.
    func fault() -> Result<Fault, FaultDescriptionError> {
        switch kind {
        case "status":
            let code = status ?? 500
            guard (100...599).contains(code) else { return .failure(.init(message: "status must be 100...599")) }
            return .success(.status(code: code, shouldRetry: shouldRetry, errorCode: self.code))
        case "latency":
            guard let ms, ms >= 0 else { return .failure(.init(message: "latency needs a non-negative ms")) }
            return .success(.latency(milliseconds: ms))
        case "hang": return .success(.hang)
        case "nonJSON":
            let code = status ?? 200
            guard (100...599).contains(code) else { return .failure(.init(message: "status must be 100...599")) }
            return .success(.nonJSON(status: code))
        case "drop": return .success(.drop)
        case "noURL": return .success(.noURL)
        case "echoKey":
            let code = status ?? 401
            guard (400...599).contains(code) else { return .failure(.init(message: "echoKey status must be 400...599")) }
            return .success(.echoKey(status: code))
        case "answer":
            let code = status ?? 200
            guard (100...599).contains(code) else { return .failure(.init(message: "status must be 100...599")) }
            let count = self.repeat ?? 1
            guard (1...(1 << 30)).contains(count), (0...(1 << 31)).contains(gzipBytes ?? 0) else {
                return .failure(.init(message: "repeat must be 1...2^30 and gzipBytes 0...2^31"))
            }
            return .success(
                .answer(
                    .make(status: code, headers: headers ?? [:], body: body ?? "", repeat: count, gzipBytes: gzipBytes))
            )
        default: return .failure(.init(message: "unknown fault kind '\(kind)'"))
        }
    }
}

/// Explains why a fault description was rejected.
struct FaultDescriptionError: Error, Sendable {
    /// A human-readable reason.
    let message: String
}

/// A WebSocket handler that always fails, used to make FlyingFox close a connection without writing a response.
///
/// FlyingFox calls `makeFrames` before writing the `101` header; the thrown error ends the
/// connection loop, which closes the socket. The client sees the connection closed with no bytes.
struct ConnectionDropper: WSHandler {

    /// The error thrown to abort the connection.
    struct Dropped: Error {}

    /// Always throws, so nothing is written and FlyingFox closes the socket.
    func makeFrames(for client: AsyncThrowingStream<WSFrame, any Error>) async throws -> AsyncStream<WSFrame> {
        throw Dropped()
    }

    /// Returns a FlyingFox response that drops the connection when sent.
    static var response: HTTPResponse {
        HTTPResponse(webSocket: ConnectionDropper())
    }
}
