import HTTPResponder
import HTTPTypes

/// Every way a checkout request can fail, each with the status and body the contract gives it.
public enum CheckoutError: Error, Sendable, Equatable {
    /// The path is not the endpoint's.
    case notFound
    /// The endpoint, with a method other than POST (or OPTIONS when CORS is on).
    case methodNotAllowed(allow: String)
    /// The body is over the configured limit.
    case bodyTooLarge
    /// The body could not be read or decoded (invalid UTF-8, a short body): FastAPI's 400.
    case unreadableBody(reason: String)
    /// No bearer token at all.
    case notAuthenticated
    /// A bearer token that does not verify; `reason` is for the log only.
    case invalidCredentials(reason: String)
    /// The body failed validation; one issue per problem, FastAPI-shaped.
    case validation([ValidationIssue])
    /// The user's plan (nil: no plan) has no configured price.
    case noPriceForPlan(String?)
    /// Stripe answered with a 4xx; `reason` is for the log only.
    case stripeRejected(reason: String)
    /// Stripe could not be reached, or answered 5xx/429, after the retries.
    case stripeUnavailable(retryAfter: Int, reason: String)
    /// The overall Stripe deadline passed.
    case stripeTimedOut
    /// Settings are missing or invalid (CGI mode only; FastCGI refuses to start).
    case notConfigured
    /// A webhook arrived, but no `STRIPE_WEBHOOK_SECRET` is configured to verify it.
    case webhookNotConfigured
    /// The user holds a subscription that is not over (checkout).
    case alreadySubscribed
    /// No Stripe customer is known for the user (portal).
    case noBillingAccount
    /// Stripe has no Billing Portal configuration; `reason` (Stripe's message) is for the log.
    case portalNotConfigured(reason: String)
    /// The billing state could not be read or written; retry after `retryAfter` seconds.
    case stateUnavailable(retryAfter: Int, reason: String)
    /// A webhook whose `Stripe-Signature` does not verify; `reason` is for the log.
    case invalidSignature(reason: String)

    /// The HTTP status of this error.
    var status: HTTPResponse.Status {
        switch self {
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .bodyTooLarge: .contentTooLarge
        case .unreadableBody: .badRequest
        case .notAuthenticated, .invalidCredentials: .unauthorized
        case .validation: .unprocessableContent
        case .noPriceForPlan: .forbidden
        case .stripeRejected: .badGateway
        case .stripeUnavailable: .serviceUnavailable
        case .stripeTimedOut: .gatewayTimeout
        case .notConfigured, .webhookNotConfigured: .internalServerError
        case .alreadySubscribed, .noBillingAccount: .conflict
        case .portalNotConfigured: .internalServerError
        case .stateUnavailable: .serviceUnavailable
        case .invalidSignature: .badRequest
        }
    }

    /// The `detail` member of the JSON body: the contract's fixed strings, or the validation items.
    var detail: JSONValue {
        switch self {
        case .notFound: "Not Found"
        case .methodNotAllowed: "Method Not Allowed"
        case .bodyTooLarge: "Request body too large"
        case .unreadableBody: "There was an error parsing the body"
        case .notAuthenticated: "Not authenticated"
        case .invalidCredentials: "Could not validate credentials"
        case .validation(let issues): .array(issues.map(\.json))
        case .noPriceForPlan(let plan?): .string("No price is configured for plan '\(plan)'")
        case .noPriceForPlan(nil): "No price is configured for users without a plan"
        case .stripeRejected: "Payment provider rejected the request"
        case .stripeUnavailable: "Payment provider unavailable"
        case .stripeTimedOut: "Payment provider timed out"
        case .notConfigured, .webhookNotConfigured: "Billing is not configured"
        case .alreadySubscribed: "Already subscribed"
        case .noBillingAccount: "No billing account"
        case .portalNotConfigured: "Billing portal is not configured"
        case .stateUnavailable: "Billing state unavailable"
        case .invalidSignature: "Invalid signature"
        }
    }

    /// Headers the contract adds to this error.
    var headers: HTTPFields {
        switch self {
        case .notAuthenticated, .invalidCredentials: [.wwwAuthenticate: "Bearer"]
        case .methodNotAllowed(let allow): [.allow: allow]
        case .stripeUnavailable(let retryAfter, _), .stateUnavailable(let retryAfter, _):
            [.retryAfter: String(retryAfter)]
        default: [:]
        }
    }

    /// The reason worth logging, never containing a secret.
    var logReason: String? {
        switch self {
        case .invalidCredentials(let reason), .stripeRejected(let reason), .unreadableBody(let reason): reason
        case .stripeUnavailable(_, let reason), .stateUnavailable(_, let reason): reason
        case .portalNotConfigured(let reason), .invalidSignature(let reason): reason
        case .webhookNotConfigured: "no STRIPE_WEBHOOK_SECRET is configured"
        default: nil
        }
    }

    /// The response for this error, as the contract shapes it.
    public var response: Response {
        .json(status, .object(JSONObject([("detail", detail)])), headers: headers)
    }
}
