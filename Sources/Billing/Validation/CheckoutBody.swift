import HTTPTypes

/// The validated request body: where Stripe sends the customer afterwards. The price is never in here.
public struct CheckoutBody: Sendable, Equatable {
    /// Where Stripe redirects after a completed checkout.
    public var successURL: String
    /// Where Stripe redirects when the customer goes back.
    public var cancelURL: String

    /// The body fields, in the order pydantic validates (and reports) them.
    static let fields = ["success_url", "cancel_url"]

    /// Validates a request body the way FastAPI validates `CheckoutRequest`, plus the redirect URL rules.
    ///
    /// - Parameters:
    ///   - body: The raw body bytes.
    ///   - contentType: The request's `Content-Type`, which decides whether the body is read as JSON.
    ///   - strictContentType: Whether a body without a `Content-Type` is refused rather than read as JSON.
    ///   - defaults: The URLs used for absent fields.
    ///   - policy: The redirect URL rules.
    static func validate(
        body: [UInt8], contentType: String?, strictContentType: Bool = true,
        defaults: (success: String, cancel: String), policy: RedirectURLPolicy
    ) throws(CheckoutError) -> CheckoutBody {
        if body.isEmpty { throw .validation([.missingBody]) }
        let object = try jsonObject(body, contentType: contentType, strict: strictContentType)
        var issues: [ValidationIssue] = []
        var urls: [String] = []
        for (field, fallback) in zip(fields, [defaults.success, defaults.cancel]) {
            switch object[field] {
            case nil:
                urls.append(fallback)
            case .string(let url)?:
                if let reason = policy.violation(in: url) {
                    issues.append(.valueError(field: field, input: url, reason: reason))
                }
                urls.append(url)
            case let other?:
                issues.append(.notAString(field: field, input: other))
                urls.append(fallback)
            }
        }
        if !issues.isEmpty { throw .validation(issues) }
        return CheckoutBody(successURL: urls[0], cancelURL: urls[1])
    }

    /// A non-empty body read as FastAPI reads a JSON model's body: the JSON object, or the contract's 422/400.
    static func jsonObject(_ body: [UInt8], contentType: String?, strict: Bool) throws(CheckoutError) -> JSONObject {
        guard isJSON(contentType: contentType, strict: strict) else {
            // FastAPI hands a non-JSON body to the model as bytes, which pydantic refuses as not an object.
            throw .validation([.notAnObject(.string(String(decoding: body, as: UTF8.self)))])
        }
        let value: JSONValue
        do throws(PythonJSONError) {
            value = try PythonJSON.parse(body)
        } catch {
            switch error {
            case .decode(let decodeError):
                throw .validation([.jsonInvalid(position: decodeError.position, reason: decodeError.message)])
            case .invalidUTF8:
                throw .unreadableBody(reason: "body is not valid UTF-8")
            case .tooDeep:
                throw .unreadableBody(reason: "JSON nested too deeply")
            case .integerTooLong:
                throw .unreadableBody(reason: "JSON integer too long")
            }
        }
        guard case .object(let object) = value else { throw .validation([.notAnObject(value)]) }
        return object
    }

    /// FastAPI's rule: `application/json` or `application/*+json`; no content type only when not `strict`.
    static func isJSON(contentType: String?, strict: Bool = true) -> Bool {
        // FastAPI's `strict_content_type` (on by default since 0.165) reads a body without a type as bytes, so a
        // cross-site form post cannot pass for JSON; absent and empty are the same (nginx sends an empty one).
        guard let contentType, !contentType.isEmpty else { return !strict }
        let mediaType =
            contentType.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            } ?? ""
        // Python's email parser falls back to text/plain for a malformed type.
        let parts = mediaType.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "application" else { return false }
        return parts[1] == "json" || parts[1].hasSuffix("+json")
    }
}
