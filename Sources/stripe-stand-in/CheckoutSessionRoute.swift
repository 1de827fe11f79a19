import FlyingFox
import Foundation

/// Handles `POST /v1/checkout/sessions`: faults, latency, auth, idempotency, validation and the session object.
struct CheckoutSessionRoute: Sendable {

    /// The shared stand-in state.
    let standIn: StandIn

    /// Answers one checkout request, or returns a response that makes FlyingFox drop the connection.
    func handle(_ request: HTTPRequest) async throws -> HTTPResponse {
        let requestID = StripeIdentifier.make("req_", length: 14)
        let body = String(decoding: try await request.bodyData, as: UTF8.self)
        let params = FormDecoder.pairs(from: body)
        let idempotencyKey = request.headers[HTTPHeader("Idempotency-Key")]
        await standIn.record(
            RecordedRequest(
                method: request.method.rawValue, path: request.path, headers: Self.lowercasedHeaders(request.headers),
                body: body, params: params, idempotencyKey: idempotencyKey, receivedAt: Date()))

        var omitURL = false
        switch await standIn.nextFault() {
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
        case nil:
            break
        }
        let added = await standIn.addedLatency()
        if added > 0 { try await Task.sleep(for: .milliseconds(added)) }

        var response = await respond(
            authorization: request.headers[.authorization], params: params,
            idempotencyKey: idempotencyKey, omitURL: omitURL)
        if let idempotencyKey { response.headers["Idempotency-Key"] = idempotencyKey }
        return response.httpResponse(requestID: requestID)
    }

    /// How long a `hang` fault keeps the connection open before dropping it.
    static let hangSeconds: Double = 600

    /// Applies auth, then idempotency, then validation and session creation.
    private func respond(authorization: String?, params: [FormPair], idempotencyKey: String?, omitURL: Bool) async
        -> StandInResponse
    {
        if let authError = APIKeyCheck(secretKey: standIn.secretKey).error(forAuthorization: authorization) {
            return authError
        }
        guard let idempotencyKey else {
            return createSession(params: params, omitURL: omitURL)
        }
        switch await standIn.beginIdempotent(key: idempotencyKey, params: params) {
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
            let response = createSession(params: params, omitURL: omitURL)
            await standIn.finishIdempotent(key: idempotencyKey, token: token, response: response)
            return response
        }
    }

    /// Validates the parameters and builds the session object, or returns the validation error.
    private func createSession(params: [FormPair], omitURL: Bool) -> StandInResponse {
        if let error = CheckoutSessionValidator(prices: standIn.prices).firstError(in: params) {
            return error
        }
        let form = FormLookup(params: params)
        let nested = FormDecoder.nested(params)
        var metadata = JSON.object([])
        if case .object(let members) = nested, let value = members.last(where: { $0.0 == "metadata" })?.1,
            case .object = value
        {
            metadata = value
        }
        let id = StripeIdentifier.make("cs_test_", length: 58)
        let created = Int(Date().timeIntervalSince1970)
        var members: [(String, JSON)] = [("id", .string(id)), ("object", .string("checkout.session"))]
        if !omitURL { members.append(("url", .string("https://checkout.stripe.com/c/pay/\(id)"))) }
        members += [
            ("mode", .optional(form["mode"])),
            ("success_url", .optional(form["success_url"])),
            ("cancel_url", .optional(form["cancel_url"])),
            ("client_reference_id", .optional(form["client_reference_id"])),
            ("customer", .optional(form["customer"])),
            ("customer_email", .optional(form["customer_email"])),
            ("metadata", metadata),
            ("livemode", .bool(false)),
            ("status", .string("open")),
            ("payment_status", .string("unpaid")),
            ("created", .number(created)),
            ("expires_at", .number(created + 86_400)),
        ]
        return .json(200, .object(members))
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

/// Checks the `Authorization` header against the configured secret key like Stripe does.
struct APIKeyCheck {
    /// The accepted secret key.
    let secretKey: String

    /// Returns a 401 response unless the header carries the secret key as Bearer or Basic username.
    func error(forAuthorization header: String?) -> StandInResponse? {
        guard let provided = Self.key(fromAuthorization: header), !provided.isEmpty else {
            return .stripeError(
                401, type: "invalid_request_error", code: nil,
                message:
                    "You did not provide an API key. You need to provide your API key in the Authorization header, "
                    + "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", includeNullCode: true)
        }
        guard provided != secretKey else { return nil }
        return .stripeError(
            401, type: "invalid_request_error", code: nil,
            message:
                "Invalid API Key provided: \(Self.mask(provided))", includeNullCode: true)
    }

    /// Extracts the key from `Bearer KEY` or `Basic base64(KEY:)`.
    static func key(fromAuthorization header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "bearer":
            return parts[1].trimmingCharacters(in: .whitespaces)
        case "basic":
            guard let data = Data(base64Encoded: parts[1]), let text = String(data: data, encoding: .utf8) else {
                return nil
            }
            return String(text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0])
        default:
            return nil
        }
    }

    /// Masks a key like Stripe: keeps a `sk_test_`-style prefix and the last four characters.
    static func mask(_ key: String) -> String {
        let pieces = key.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        let prefix = pieces.count == 3 ? "\(pieces[0])_\(pieces[1])_" : ""
        let rest = key.dropFirst(prefix.count)
        guard rest.count > 4 else { return prefix + String(repeating: "*", count: rest.count) }
        return prefix + String(repeating: "*", count: rest.count - 4) + rest.suffix(4)
    }
}
