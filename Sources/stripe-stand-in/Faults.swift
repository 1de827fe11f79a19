import FlyingFox
import Foundation

/// A scripted misbehaviour applied to the next checkout request.
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
    /// Handle normally but leave `url` out of a successful session.
    case noURL

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

    /// Makes the HTML response for a `.nonJSON` fault.
    static func nonJSONResponse(status: Int) -> StandInResponse {
        StandInResponse(status: status, headers: ["Content-Type": "text/html"], body: Data("<html>oops</html>".utf8))
    }
}

/// The JSON shape of one fault in `POST /_standin/faults`.
struct FaultDescription: Decodable, Sendable {
    /// One of `status`, `latency`, `hang`, `nonJSON`, `drop`, `noURL`.
    let kind: String
    /// Status code for `status` (default 500) and `nonJSON` (default 200).
    let status: Int?
    /// Milliseconds for `latency`.
    let ms: Int?
    /// Optional `Stripe-Should-Retry` header value for `status`.
    let shouldRetry: Bool?
    /// Optional Stripe error code for `status`.
    let code: String?

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
