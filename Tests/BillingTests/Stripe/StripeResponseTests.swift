import Foundation
import Testing

@testable import Billing

/// `StripeResultMapping.result` and `StripeExchange`: what Stripe's last answer means for the client.
@Suite struct StripeResponseTests {
    static let key = Fixture.stripeKey
    static let redact: @Sendable (String) -> String = { $0.replacingOccurrences(of: key, with: "<redacted>") }

    static func exchange(_ status: Int, _ body: String, headers: [String: String] = ["request-id": "req_9"])
        -> StripeExchange
    {
        StripeExchange(status: status, headers: headers, body: Data(body.utf8))
    }

    static func result(_ exchange: StripeExchange) -> Result<CheckoutSession, CheckoutError> {
        do throws(CheckoutError) {
            return .success(try StripeResultMapping.result(of: exchange, redact: redact))
        } catch {
            return .failure(error)
        }
    }

    static func isRejected(_ result: Result<CheckoutSession, CheckoutError>) -> Bool {
        if case .failure(.stripeRejected) = result { return true }
        return false
    }

    @Test("a 200 with a session gives its url and Stripe's request id")
    func success() {
        let body =
            #"{"id":"cs_test_1","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_1"}"#
        #expect(
            Self.result(Self.exchange(200, body))
                == .success(
                    CheckoutSession(
                        id: "cs_test_1", url: "https://checkout.stripe.com/c/pay/cs_test_1", requestID: "req_9")))
    }

    @Test(
        "a 200 that is not a session with a url is a rejection",
        arguments: [
            "<html>oops</html>", "", "{}", #"{"id":"cs_1"}"#, #"{"id":"cs_1","url":null}"#, #"{"id":"cs_1","url":""}"#,
            #"{"url":"https://checkout.stripe.com/x"}"#, "[]",
        ])
    func badSuccess(body: String) {
        #expect(Self.isRejected(Self.result(Self.exchange(200, body))))
    }

    static let stripeError =
        #"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such price: 'price_x'","param":"line_items[0][price]"}}"#

    @Test("a 4xx other than 429 is a rejection, answered 502", arguments: [400, 401, 402, 403, 404, 409])
    func rejected(status: Int) throws {
        let result = Self.result(Self.exchange(status, Self.stripeError))
        guard case .failure(let error) = result, case .stripeRejected(let reason) = error else {
            Issue.record("expected a rejection, got \(result)")
            return
        }
        #expect(
            reason
                == "Stripe answered \(status): invalid_request_error/resource_missing: No such price: 'price_x' [param line_items[0][price]] (request req_9)"
        )
        #expect(error.response.head.status.code == 502)
        #expect(error.bodyText == #"{"detail":"Payment provider rejected the request"}"#)
    }

    @Test(
        "429 and 5xx are unavailable, with Retry-After from the header (rounded up, at least 1)",
        arguments: [
            (429, "7" as String?, 7), (429, nil, 1), (429, "2.1", 3), (429, "0", 1), (429, "soon", 1),
            (500, nil, 1), (503, "30", 30), (502, nil, 1), (599, nil, 1),
        ])
    func unavailable(status: Int, retryAfter: String?, expected: Int) {
        var headers = ["request-id": "req_9"]
        headers["retry-after"] = retryAfter
        let result = Self.result(Self.exchange(status, #"{"error":{"type":"api_error"}}"#, headers: headers))
        guard case .failure(let error) = result, case .stripeUnavailable(let seconds, _) = error else {
            Issue.record("expected unavailable, got \(result)")
            return
        }
        #expect(seconds == expected)
        #expect(error.response.head.status.code == 503)
        #expect(error.response.head.headerFields[.retryAfter] == String(expected))
        #expect(error.bodyText == #"{"detail":"Payment provider unavailable"}"#)
    }

    @Test("the secret key never appears in a reason")
    func keyRedacted() {
        let body = #"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: \#(Self.key)"}}"#
        for status in [401, 500] {
            let reason = Self.result(Self.exchange(status, body)).failureReason
            #expect(reason?.contains(Self.key) == false)
            #expect(reason?.contains("<redacted>") == true)
        }
    }

    @Test(
        "no fragment of the secret key survives the 300-character cut of Stripe's message")
    func keyFragmentAtTruncation() {
        let message = String(repeating: "x", count: 288) + Self.key
        let body = JSONValue.object(JSONObject([("error", .object(JSONObject([("message", .string(message))])))]))
            .serialized()
        let reason = Self.result(Self.exchange(400, body)).failureReason ?? ""
        #expect(!reason.contains(String(Self.key.prefix(12))))
    }

    @Test(
        "Stripe-Should-Retry, Retry-After and Request-Id are read from the lowercased headers",
        arguments: [
            (["stripe-should-retry": "true"], true as Bool?, nil as Double?),
            (["stripe-should-retry": "False"], false, nil),
            (["stripe-should-retry": "maybe"], nil, nil), (["retry-after": "1.5"], nil, 1.5),
            (["retry-after": "x"], nil, nil),
            ([:], nil, nil),
        ])
    func exchangeHeaders(headers: [String: String], shouldRetry: Bool?, retryAfter: Double?) {
        let exchange = StripeExchange(status: 429, headers: headers, body: Data())
        #expect(exchange.outcome == .response(status: 429, shouldRetry: shouldRetry, retryAfter: retryAfter))
        #expect(exchange.requestID == nil)
    }
}

extension Result where Failure == CheckoutError {
    /// The log reason of a failure, nil for a success.
    var failureReason: String? {
        if case .failure(let error) = self { return error.logReason }
        return nil
    }
}
