import HTTPResponder
import HTTPTypes
import Testing

@testable import Billing

/// `CheckoutApplication.respond`, in process with a fake Stripe: every row of DESIGN §1.
@Suite struct CheckoutApplicationTests {
    static let successBody = #"{"url":"https://checkout.stripe.com/c/pay/cs_test_1"}"#
    static let validBody = Request.Body.bytes(Array(#"{"success_url":"https://app.example.com/ok"}"#.utf8))

    static func app(_ stripe: FakeStripe = FakeStripe(), settings: Settings = Fixture.settings()) async throws
        -> CheckoutApplication
    {
        CheckoutApplication(
            settings: settings, verifier: try await Fixture.verifier(settings.jwt), stripe: stripe,
            logger: Fixture.silentLogger)
    }

    static func authorized(_ token: String, _ extra: HTTPFields = [:]) -> HTTPFields {
        var fields: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
        fields.append(contentsOf: extra)
        return fields
    }

    @Test("a valid request gets 200 with the session url, JSON and no-store")
    func success() async throws {
        let stripe = FakeStripe()
        let token = try await Fixture.hs256(Fixture.claims(["email": .string("a@example.com")]))
        let response = try await Self.app(stripe).respond(
            to: Fixture.request(headers: Self.authorized(token), body: Self.validBody))
        #expect(response.head.status.code == 200)
        #expect(response.bodyText == Self.successBody)
        #expect(response.head.headerFields[.contentType] == "application/json")
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        let call = try #require(stripe.log.calls.first)
        #expect(stripe.log.calls.count == 1)
        #expect(
            call.parameters
                == CheckoutSessionParameters(
                    priceID: "price_default", successURL: "https://app.example.com/ok",
                    cancelURL: "https://app.example.com/dashboard?canceled=true", userID: "u_1",
                    customerEmail: "a@example.com"))
    }

    @Test(
        "no token, another scheme or an empty token: 401 Not authenticated, before the body is judged",
        arguments: [
            nil, "Basic dXNlcjpwdw==", "Bearer ", "Token abc",
        ] as [String?])
    func notAuthenticated(authorization: String?) async throws {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.authorization] = authorization
        let stripe = FakeStripe()
        for body in [Request.Body.bytes(Array("not json".utf8)), .malformed("short"), Self.validBody] {
            let response = try await Self.app(stripe).respond(to: Fixture.request(headers: headers, body: body))
            #expect(response.head.status.code == 401)
            #expect(response.bodyText == #"{"detail":"Not authenticated"}"#)
            #expect(response.head.headerFields[.wwwAuthenticate] == "Bearer")
        }
        #expect(stripe.log.calls.isEmpty)
    }

    @Test("an invalid token: 401 Could not validate credentials, before the body is judged")
    func invalidCredentials() async throws {
        let expired = try await Fixture.hs256(Fixture.claims(["exp": .number(Fixture.now.timeIntervalSince1970 - 1)]))
        let forged = try await Fixture.hs256(secret: "not-the-secret-not-the-secret-0000")
        for token in [expired, forged, "garbage"] {
            let response = try await Self.app().respond(
                to: Fixture.request(headers: Self.authorized(token), body: .bytes(Array("[".utf8))))
            #expect(response.head.status.code == 401)
            #expect(response.bodyText == #"{"detail":"Could not validate credentials"}"#)
            #expect(response.head.headerFields[.wwwAuthenticate] == "Bearer")
        }
    }

    @Test("an authenticated request with an invalid body gets the exact 422")
    func validation() async throws {
        let token = try await Fixture.hs256()
        let response = try await Self.app().respond(
            to: Fixture.request(headers: Self.authorized(token), body: .bytes(Array(#"{"success_url":1}"#.utf8))))
        #expect(response.head.status.code == 422)
        #expect(
            response.bodyText
                == #"{"detail":[{"type":"string_type","loc":["body","success_url"],"msg":"Input should be a valid string","input":1}]}"#
        )
        #expect(response.head.headerFields[.contentType] == "application/json")
    }

    @Test("an unreadable body after authentication is FastAPI's 400")
    func unreadable() async throws {
        let token = try await Fixture.hs256()
        let response = try await Self.app().respond(
            to: Fixture.request(headers: Self.authorized(token), body: .malformed("body has 3 bytes")))
        #expect(response.head.status.code == 400)
        #expect(response.bodyText == #"{"detail":"There was an error parsing the body"}"#)
    }

    @Test(
        "other paths are 404, whatever the method",
        arguments: [
            (HTTPRequest.Method.post, "/api/v1/billing/checkout/"), (.post, "/"), (.get, "/api/v1/billing"),
            (.post, "/API/v1/billing/checkout"), (.options, "/x"),
        ])
    func notFound(method: HTTPRequest.Method, path: String) async throws {
        let response = try await Self.app().respond(to: Fixture.request(method, path: path))
        #expect(response.head.status.code == 404)
        #expect(response.bodyText == #"{"detail":"Not Found"}"#)
    }

    @Test(
        "a query string or percent-encoding in the path still routes to the endpoint",
        arguments: [
            "/api/v1/billing/checkout?utm=x", "/api/v1/billing/%63heckout", "/api/v1/billing/checkout?",
        ])
    func routing(path: String) async throws {
        let token = try await Fixture.hs256()
        let response = try await Self.app().respond(
            to: Fixture.request(path: path, headers: Self.authorized(token), body: Self.validBody))
        #expect(response.head.status.code == 200)
    }

    @Test(
        "other methods on the path are 405 with Allow",
        arguments: [HTTPRequest.Method.get, .put, .delete, .patch, .options])
    func methodNotAllowed(method: HTTPRequest.Method) async throws {
        let plain = try await Self.app().respond(to: Fixture.request(method))
        #expect(plain.head.status.code == 405)
        #expect(plain.bodyText == #"{"detail":"Method Not Allowed"}"#)
        #expect(plain.head.headerFields[.allow] == "POST")
        let cors = try await Self.app(settings: Fixture.settings(cors: ["https://app.example.com"]))
        #expect(await cors.respond(to: Fixture.request(method)).head.headerFields[.allow] == "POST, OPTIONS")
    }

    @Test("a body over the limit is 413, authenticated or not")
    func tooLarge() async throws {
        let token = try await Fixture.hs256()
        for headers in [HTTPFields(), Self.authorized(token)] {
            let response = try await Self.app().respond(to: Fixture.request(headers: headers, body: .tooLarge))
            #expect(response.head.status.code == 413)
            #expect(response.bodyText == #"{"detail":"Request body too large"}"#)
        }
    }

    @Test("a plan without a configured price is 403 naming the plan, and Stripe is not called")
    func noPrice() async throws {
        let stripe = FakeStripe()
        let token = try await Fixture.hs256(Fixture.claims(["plan": .string("agency")]))
        let response = try await Self.app(stripe).respond(
            to: Fixture.request(headers: Self.authorized(token), body: Self.validBody))
        #expect(response.head.status.code == 403)
        #expect(response.bodyText == #"{"detail":"No price is configured for plan 'agency'"}"#)
        #expect(stripe.log.calls.isEmpty)
    }

    @Test(
        "Stripe's failures map to 502, 503 with Retry-After, and 504",
        arguments: [
            (
                CheckoutError.stripeRejected(reason: "400"), 502,
                #"{"detail":"Payment provider rejected the request"}"#, nil as String?
            ),
            (.stripeUnavailable(retryAfter: 7, reason: "503"), 503, #"{"detail":"Payment provider unavailable"}"#, "7"),
            (.stripeTimedOut, 504, #"{"detail":"Payment provider timed out"}"#, nil),
        ])
    func stripeFailures(error: CheckoutError, status: Int, body: String, retryAfter: String?) async throws {
        var stripe = FakeStripe()
        stripe.result = .failure(error)
        let token = try await Fixture.hs256()
        let response = try await Self.app(stripe).respond(
            to: Fixture.request(headers: Self.authorized(token), body: Self.validBody))
        #expect(response.head.status.code == status)
        #expect(response.bodyText == body)
        #expect(response.head.headerFields[.retryAfter] == retryAfter)
        #expect(response.head.headerFields[.contentType] == "application/json")
    }

    @Test(
        "an unconfigured endpoint answers 500 Billing is not configured to everything",
        arguments: [
            (HTTPRequest.Method.post, "/api/v1/billing/checkout"), (.get, "/elsewhere"),
        ])
    func unconfigured(method: HTTPRequest.Method, path: String) async {
        let app = CheckoutApplication.unconfigured(logger: Fixture.silentLogger)
        let response = await app.respond(to: Fixture.request(method, path: path, body: Self.validBody))
        #expect(response.head.status.code == 500)
        #expect(response.bodyText == #"{"detail":"Billing is not configured"}"#)
        #expect(response.head.headerFields[.contentType] == "application/json")
    }
}
