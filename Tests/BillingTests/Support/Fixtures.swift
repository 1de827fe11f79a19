import Foundation
import HTTPResponder
import HTTPTypes
import JWTKit
import Logging
import Synchronization
import Testing

@testable import Billing

/// Values shared by the Billing tests: settings, tokens, requests and a Stripe stand-in.
enum Fixture {
    static let frontendURL = "https://app.example.com"
    static let hmacSecret = "unit-test-hmac-secret-0123456789abcdef"
    static let stripeKey = "sk_test_unit_0123456789"
    static let route = "/api/v1/billing/checkout"
    /// 2023-11-14T22:13:20Z, the fixed "now" of every verifier in these tests.
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static let silentLogger = Logger(label: "billing-tests") { _ in SwiftLogNoOpLogHandler() }

    static var appOrigin: Origin { Origin(scheme: "https", host: "app.example.com", port: 443) }

    static func stripeSettings(
        defaultPrice: String? = "price_default", planPrices: [String: String] = [:],
        allowPromotionCodes: Bool? = nil, automaticTax: Bool = false, trialPeriodDays: Int? = nil
    ) -> StripeSettings {
        StripeSettings(
            secretKey: Secret(stripeKey), defaultPriceID: defaultPrice, planPrices: PlanPrices(planPrices),
            allowPromotionCodes: allowPromotionCodes, automaticTax: automaticTax, trialPeriodDays: trialPeriodDays)
    }

    static func settings(
        stripe: StripeSettings = stripeSettings(), jwt: JWTSettings = JWTSettings(secret: Secret(hmacSecret)),
        cors: Set<String> = []
    ) -> Settings {
        Settings(
            stripe: stripe, jwt: jwt, frontendURL: frontendURL, allowedRedirectOrigins: [appOrigin], corsOrigins: cors)
    }

    static func verifier(_ jwt: JWTSettings = JWTSettings(secret: Secret(hmacSecret))) async throws -> TokenVerifier {
        try await TokenVerifier.make(settings: jwt, now: { Fixture.now })
    }

    /// Claims valid at `now` for user `u_1`, plus `extra`.
    static func claims(_ extra: [String: TokenClaims.Value] = [:]) -> TokenClaims {
        var values: [String: TokenClaims.Value] = [
            "sub": .string("u_1"), "exp": .number(now.timeIntervalSince1970 + 600),
        ]
        values.merge(extra) { _, new in new }
        return TokenClaims(values: values)
    }

    /// An HS256 token signed with `secret`.
    static func hs256(_ claims: TokenClaims = claims(), secret: String = hmacSecret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    static func request(
        _ method: HTTPRequest.Method = .post, path: String = route, headers: HTTPFields = [:],
        body: Request.Body = .bytes([])
    ) -> Request {
        // A body is JSON unless the test says otherwise, as a browser's fetch() with a JSON body sends it.
        var headers = headers
        if case .bytes(let bytes) = body, !bytes.isEmpty, headers[.contentType] == nil {
            headers[.contentType] = "application/json"
        }
        return Request(
            head: HTTPRequest(
                method: method, scheme: "https", authority: "api.example.com", path: path, headerFields: headers),
            body: body)
    }

    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// A `StripeClient` that records what it was asked and answers what the test says.
struct FakeStripe: StripeClient {
    struct Call: Sendable {
        var parameters: CheckoutSessionParameters
        var idempotencyKey: String
    }

    final class Log: Sendable {
        private let storage = Mutex<[Call]>([])
        var calls: [Call] { storage.withLock { $0 } }
        func append(_ call: Call) { storage.withLock { $0.append(call) } }
    }

    let log = Log()
    var result: Result<CheckoutSession, CheckoutError> = .success(
        CheckoutSession(id: "cs_test_1", url: "https://checkout.stripe.com/c/pay/cs_test_1", requestID: "req_1"))

    func createCheckoutSession(_ parameters: CheckoutSessionParameters, idempotencyKey: String)
        async throws(CheckoutError) -> CheckoutSession
    {
        log.append(Call(parameters: parameters, idempotencyKey: idempotencyKey))
        return try result.get()
    }

    func expireCheckoutSession(id: String) async throws(CheckoutError) -> StripeSessionState {
        StripeSessionState(id: id, status: "expired")
    }

    func subscription(id: String) async throws(CheckoutError) -> StripeSubscription {
        throw .stripeRejected(reason: "not scripted")
    }

    func createPortalSession(customerID: String, returnURL: String) async throws(CheckoutError) -> String {
        throw .stripeRejected(reason: "not scripted")
    }
}

extension Response {
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

extension CheckoutError {
    /// The exact body bytes the contract gives this error, as text.
    var bodyText: String { response.bodyText }
}
