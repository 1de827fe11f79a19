import FlyingFox
import Foundation

/// One `/v1` request after the steps every route shares, as a route's answer sees it.
struct APICall: Sendable {
    /// The HTTP method, e.g. `POST`.
    let method: String
    /// The request path without the query, e.g. `/v1/subscriptions/sub_1`.
    let path: String
    /// The form body of a POST, or the query of a GET, decoded in order.
    let params: [FormPair]
    /// The `Request-Id` the answer carries.
    let requestID: String
    /// The `Idempotency-Key` header, if sent.
    let idempotencyKey: String?
    /// Whether a `noURL` fault asks for the object's `url` to be left out.
    let omitURL: Bool

    /// The params by key, the last occurrence winning.
    var form: FormLookup { FormLookup(params: params) }

    /// The percent-decoded path segment at `index` (`/v1/customers/cus_1` has `cus_1` at 2).
    func segment(_ index: Int) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.indices.contains(index) else { return "" }
        let raw = String(segments[index])
        return raw.removingPercentEncoding ?? raw
    }

    /// Who caused the events this request produces, as an event's `request` member names it.
    var eventRequest: EventRequest {
        EventRequest(id: requestID, idempotencyKey: idempotencyKey)
    }
}

/// The steps every `/v1` route takes, in order: record the request, apply the first queued fault that matches it,
/// wait the added latency, check the key, honour a POST's `Idempotency-Key`, then answer.
struct APIRoute: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// How long a `hang` fault keeps the connection open before dropping it.
    static let hangSeconds: Double = 600

    /// Answers one request with `answer`, or returns a response that makes FlyingFox drop the connection.
    func handle(_ request: HTTPRequest, _ answer: @escaping @Sendable (APICall) async -> StandInResponse)
        async throws -> HTTPResponse
    {
        let requestID = StripeIdentifier.make("req_", length: 14)
        let method = request.method.rawValue
        let body = String(decoding: try await request.bodyData, as: UTF8.self)
        let params =
            method == "GET" || method == "DELETE"
            ? FormDecoder.pairs(from: request.target.query()) : FormDecoder.pairs(from: body)
        let idempotencyKey = request.headers[HTTPHeader("Idempotency-Key")]
        await standIn.record(
            RecordedRequest(
                method: method, path: request.path, headers: Self.lowercasedHeaders(request.headers),
                body: body, params: params, idempotencyKey: idempotencyKey, receivedAt: Date()))

        var omitURL = false
        switch await standIn.nextFault(method: method, path: request.path) {
        case .status(let code, let shouldRetry, let errorCode):
            return Fault.statusResponse(code: code, shouldRetry: shouldRetry, errorCode: errorCode).httpResponse(
                requestID: requestID)
        case .nonJSON(let status):
            return Fault.nonJSONResponse(status: status).httpResponse(requestID: requestID)
        case .drop:
            return ConnectionDropper.response
        case .hang:
            try await Task.sleep(for: .seconds(Self.hangSeconds))
            return ConnectionDropper.response
        case .latency(let milliseconds):
            try await Task.sleep(for: .milliseconds(milliseconds))
        case .noURL:
            omitURL = true
        case .answer(let answer):
            return answer.response.httpResponse(requestID: requestID)
        case .echoKey(let status):
            return Fault.echoKeyResponse(status: status, authorization: request.headers[.authorization])
                .httpResponse(requestID: requestID)
        case nil:
            break
        }
        let added = await standIn.addedLatency()
        if added > 0 { try await Task.sleep(for: .milliseconds(added)) }

        let call = APICall(
            method: method, path: request.path, params: params, requestID: requestID,
            idempotencyKey: idempotencyKey, omitURL: omitURL)
        var response = await respond(call, authorization: request.headers[.authorization], answer)
        if let idempotencyKey { response.headers["Idempotency-Key"] = idempotencyKey }
        return response.httpResponse(requestID: requestID)
    }

    /// Applies auth, then (for a POST with a key) idempotency, then the route's answer.
    private func respond(
        _ call: APICall, authorization: String?, _ answer: @Sendable (APICall) async -> StandInResponse
    ) async -> StandInResponse {
        if let authError = APIKeyCheck(secretKey: standIn.secretKey).error(forAuthorization: authorization) {
            return authError
        }
        guard call.method == "POST", let idempotencyKey = call.idempotencyKey else {
            return await answer(call)
        }
        let fingerprint = IdempotentRequest(path: call.path, params: call.params)
        switch await standIn.beginIdempotent(key: idempotencyKey, request: fingerprint) {
        case .replay(var stored):
            stored.headers["Idempotent-Replayed"] = "true"
            return stored
        case .mismatch:
            return .stripeError(
                400, type: "idempotency_error", code: nil,
                message:
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                    + "Try using a key other than '\(idempotencyKey)' if you meant to execute a different request.")
        case .inProgress:
            return .stripeError(
                409, type: "idempotency_error", code: "idempotency_key_in_use",
                message:
                    "There is currently another in-progress request using this Stripe-Idempotency-Key. "
                    + "Please try again later.")
        case .proceed(let token):
            let response = await answer(call)
            await standIn.finishIdempotent(key: idempotencyKey, token: token, response: response)
            return response
        }
    }

    /// Records a request to an unknown `/v1` path (no fault, no key check) and answers Stripe's 404.
    func unrecognized(_ request: HTTPRequest) async throws -> HTTPResponse {
        let body = String(decoding: try await request.bodyData, as: UTF8.self)
        let method = request.method.rawValue
        if request.path.hasPrefix("/v1/") {
            let params =
                method == "GET" || method == "DELETE"
                ? FormDecoder.pairs(from: request.target.query()) : FormDecoder.pairs(from: body)
            await standIn.record(
                RecordedRequest(
                    method: method, path: request.path, headers: Self.lowercasedHeaders(request.headers),
                    body: body, params: params, idempotencyKey: request.headers[HTTPHeader("Idempotency-Key")],
                    receivedAt: Date()))
        }
        return StandInResponse.unrecognizedURL(method: method, path: request.path)
            .httpResponse(requestID: StandInServer.newRequestID())
    }

    /// Returns headers with lowercased names; repeated headers are joined with ", ".
    static func lowercasedHeaders(_ headers: HTTPHeaders) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in headers {
            let key = name.rawValue.lowercased()
            result[key] = result[key].map { "\($0), \(value)" } ?? value
        }
        return result
    }
}

/// Answers the first parameter that a route does not know with Stripe's `parameter_unknown`.
enum Parameters {
    /// Returns the error for the first param whose top-level name is not in `known`, or `nil`.
    static func unknown(in params: [FormPair], known: Set<String>) -> StandInResponse? {
        guard let name = params.map({ FormDecoder.path(of: $0.key)[0] }).first(where: { !known.contains($0) }) else {
            return nil
        }
        return .invalidRequest(code: "parameter_unknown", message: "Received unknown parameter: \(name)", param: name)
    }

    /// The members under `path` (by default `metadata[...]`) as an object, in order (`{}` when none).
    static func metadata(_ params: [FormPair], at path: [String] = ["metadata"]) -> JSON {
        var value: JSON? = FormDecoder.nested(params)
        for key in path { value = value?[key] }
        if let value, case .object = value { return value }
        return .object([])
    }
}
