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

    static func result(
        _ exchange: StripeExchange, checkoutHosts: Set<String> = StripeSettings.defaultCheckoutHosts
    ) -> Result<CheckoutSession, CheckoutError> {
        do throws(CheckoutError) {
            return .success(
                try StripeResultMapping.result(of: exchange, checkoutHosts: checkoutHosts, redact: redact))
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

    static let unavailableCases: [(Int, String?, Int)] = [
            (429, "7" as String?, 7), (429, nil, 1), (429, "2.1", 3), (429, "0", 1), (429, "soon", 1),
            (500, nil, 1), (503, "30", 30), (502, nil, 1), (599, nil, 1),
            // Whatever the header holds, the client gets 1...60 seconds and the process never traps.
            (503, "NaN", 1), (503, "inf", 1), (503, "-inf", 1), (503, "1e300", 1), (503, "999999999999", 60),
            (503, String(repeating: "9", count: 400), 1), (503, "60", 60), (503, "61", 60), (503, "-5", 1),
            (503, "Wed, 21 Oct 2015 07:28:00 GMT", 1), (503, "", 1), (503, "0x10", 1), (503, "1.", 1),
        ]

    @Test(
        "429 and 5xx are unavailable, with Retry-After from the header (rounded up, 1...60)",
        arguments: unavailableCases)
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

    static let headerCases: [([String: String], Bool?, Double?)] = [
            (["stripe-should-retry": "true"], true as Bool?, nil as Double?),
            (["stripe-should-retry": "False"], false, nil),
            (["stripe-should-retry": "maybe"], nil, nil), (["retry-after": "1.5"], nil, 1.5),
            (["retry-after": "x"], nil, nil), (["retry-after": "NaN"], nil, nil), (["retry-after": "inf"], nil, nil),
            (["retry-after": "1e300"], nil, nil), (["retry-after": "999999999999"], nil, 86_400),
            (["retry-after": "-1"], nil, nil), (["retry-after": " 5"], nil, nil),
            ([:], nil, nil),
        ]

    @Test("Stripe-Should-Retry, Retry-After and Request-Id are read from the lowercased headers", arguments: headerCases)
    func exchangeHeaders(headers: [String: String], shouldRetry: Bool?, retryAfter: Double?) {
        let exchange = StripeExchange(status: 429, headers: headers, body: Data())
        #expect(exchange.outcome == .response(status: 429, shouldRetry: shouldRetry, retryAfter: retryAfter))
        #expect(exchange.requestID == nil)
    }

    static func session(url: String, id: String = "cs_test_1", object: String = "checkout.session") -> String {
        JSONValue.object(JSONObject([("id", .string(id)), ("object", .string(object)), ("url", .string(url))]))
            .serialized()
    }

    @Test(
        "a session url that is not an https URL on Stripe's Checkout host never reaches the client",
        arguments: [
            "javascript:alert(1)", "https://evil.com/c/pay/cs_test_1", "http://checkout.stripe.com/c/pay/cs_test_1",
            "https://checkout.stripe.com@evil.com/", "https://user:pw@checkout.stripe.com/",
            "https://checkout.stripe.com.evil.com/", "https://evil.com#checkout.stripe.com",
            "https://evil.com\\@checkout.stripe.com/", "https://checkout.stripe.com:8443/c",
            "https://checkout.stripe.com/c pay", "https://checkout.stripe.com/\u{1B}[31m", "https://checkout.stripe.com/é",
            "//checkout.stripe.com/c", "https:checkout.stripe.com", "https://",
            "https://checkout.stripe.com/" + String(repeating: "a", count: 200_000),
        ])
    func unsafeSessionURL(url: String) {
        let result = Self.result(Self.exchange(200, Self.session(url: url)))
        #expect(Self.isRejected(result), "\(url.prefix(60)) was passed on")
        #expect(result.failureReason?.contains("not sent to the browser") == true)
    }

    @Test(
        "https URLs on the configured hosts pass, in any case of scheme and host, with or without :443",
        arguments: [
            ("https://checkout.stripe.com/c/pay/cs_test_1#fid", StripeSettings.defaultCheckoutHosts),
            ("HTTPS://Checkout.Stripe.COM/c/pay/cs_test_1", StripeSettings.defaultCheckoutHosts),
            ("https://checkout.stripe.com:443/c/pay/cs_test_1", StripeSettings.defaultCheckoutHosts),
            ("https://pay.example.com/c/pay/cs_test_1", ["pay.example.com"] as Set<String>),
        ])
    func safeSessionURL(url: String, hosts: Set<String>) {
        let result = Self.result(Self.exchange(200, Self.session(url: url)), checkoutHosts: hosts)
        #expect(result == .success(CheckoutSession(id: "cs_test_1", url: url, requestID: "req_9")))
    }

    @Test("a custom domain must be configured: Stripe's own host is refused when only it is")
    func customDomainOnly() {
        let result = Self.result(
            Self.exchange(200, Self.session(url: "https://checkout.stripe.com/c/pay/cs_test_1")),
            checkoutHosts: ["pay.example.com"])
        #expect(Self.isRejected(result))
    }

    @Test(
        "the answer must be a checkout.session with a Stripe id",
        arguments: [
            session(url: "https://checkout.stripe.com/c", object: "billing_portal.session"),
            session(url: "https://checkout.stripe.com/c", id: "pi_123"),
            session(url: "https://checkout.stripe.com/c", id: "cs_" + String(repeating: "a", count: 300)),
            session(url: "https://checkout.stripe.com/c", id: "cs_a b"),
            #"{"id":"cs_test_1","url":"https://checkout.stripe.com/c"}"#,
            #"{"id":"cs_test_1","object":1,"url":"https://checkout.stripe.com/c"}"#,
        ])
    func notASession(body: String) {
        #expect(Self.isRejected(Self.result(Self.exchange(200, body))))
    }

    @Test("a repeated key in Stripe's answer: the last value counts, as in request bodies and tokens")
    func duplicateKeysLastWins() {
        let first =
            #"{"id":"cs_test_1","object":"checkout.session","url":"https://evil.com/","url":"https://checkout.stripe.com/c/pay/cs_test_1"}"#
        #expect(
            Self.result(Self.exchange(200, first))
                == .success(
                    CheckoutSession(
                        id: "cs_test_1", url: "https://checkout.stripe.com/c/pay/cs_test_1", requestID: "req_9")))
        let last =
            #"{"id":"cs_test_1","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_1","url":"https://evil.com/"}"#
        #expect(Self.isRejected(Self.result(Self.exchange(200, last))))
        let error = #"{"error":{"message":"first","message":"second"}}"#
        #expect(Self.result(Self.exchange(400, error)).failureReason?.contains(": error: second") == true)
    }

    @Test("a redirect is a rejection naming where it pointed", arguments: [301, 302, 303, 307, 308])
    func redirect(status: Int) {
        let result = Self.result(
            Self.exchange(status, "", headers: ["request-id": "req_9", "location": "https://evil.example/x\r\ny"]))
        #expect(Self.isRejected(result))
        let reason = result.failureReason ?? ""
        #expect(reason.contains("redirect to https://evil.example/x??y"))
        #expect(reason.contains("never followed"))
    }

    @Test("a status outside HTTP's final range is a rejection", arguments: [0, 100, 199, 600, 999, -1, Int.max])
    func oddStatus(status: Int) {
        #expect(Self.isRejected(Self.result(Self.exchange(status, Self.session(url: "https://checkout.stripe.com/c")))))
    }

    @Test("a Request-Id that is not a plausible id is not logged")
    func implausibleRequestID() {
        #expect(Self.exchange(200, "", headers: ["request-id": "req_1 status=500"]).requestID == nil)
        #expect(Self.exchange(200, "", headers: ["request-id": "req_Abc123"]).requestID == "req_Abc123")
    }
}

extension Result where Failure == CheckoutError {
    /// The log reason of a failure, nil for a success.
    var failureReason: String? {
        if case .failure(let error) = self { return error.logReason }
        return nil
    }
}
