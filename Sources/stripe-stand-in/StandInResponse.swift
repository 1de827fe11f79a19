import FlyingFox
import Foundation

/// A finished response before it is handed to FlyingFox; also the unit stored for idempotent replay.
struct StandInResponse: Sendable, Equatable {
    /// The HTTP status code.
    var status: Int
    /// Extra headers, excluding `Request-Id` which is added per delivery.
    var headers: [String: String]
    /// The raw response body.
    var body: Data

    /// Makes a JSON response with the given status.
    static func json(_ status: Int, _ value: JSON) -> StandInResponse {
        StandInResponse(status: status, headers: ["Content-Type": "application/json"], body: value.encoded)
    }

    /// Makes a Stripe error response: `{"error":{type, code?, message, param?}}`.
    static func stripeError(
        _ status: Int, type: String, code: String?, message: String, param: String? = nil, includeNullCode: Bool = false
    ) -> StandInResponse {
        var members: [(String, JSON)] = [("type", .string(type))]
        if let code {
            members.append(("code", .string(code)))
        } else if includeNullCode {
            members.append(("code", .null))
        }
        members.append(("message", .string(message)))
        if let param { members.append(("param", .string(param))) }
        return json(status, .object([("error", .object(members))]))
    }

    /// Makes a `400 invalid_request_error` for a parameter problem.
    static func invalidRequest(code: String, message: String, param: String?) -> StandInResponse {
        stripeError(400, type: "invalid_request_error", code: code, message: message, param: param)
    }

    /// Makes Stripe's 404 answer for an unknown URL.
    static func unrecognizedURL(method: String, path: String) -> StandInResponse {
        stripeError(
            404, type: "invalid_request_error", code: nil,
            message:
                "Unrecognized request URL (\(method): \(path)). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        )
    }

    /// Converts to a FlyingFox response carrying the given `Request-Id`.
    func httpResponse(requestID: String) -> HTTPResponse {
        var fields = HTTPHeaders()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            fields[HTTPHeader(name)] = value
        }
        fields[HTTPHeader("Request-Id")] = requestID
        return HTTPResponse(
            statusCode: HTTPStatusCode(status, phrase: Self.phrase(for: status)), headers: fields, body: body)
    }

    /// Returns the reason phrase for common status codes.
    static func phrase(for status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Request Failed"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(status)"
        }
    }
}

/// Generates Stripe-looking random identifiers.
enum StripeIdentifier {
    /// Returns `prefix` followed by `length` random alphanumerics.
    static func make(_ prefix: String, length: Int = 24) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return prefix + String((0..<length).map { _ in alphabet.randomElement()! })
    }
}
