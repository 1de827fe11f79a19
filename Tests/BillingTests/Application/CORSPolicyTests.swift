import HTTPResponder
import HTTPTypes
import Testing

@testable import Billing

/// CORS (DESIGN §1.2), through `CheckoutApplication.respond`.
@Suite struct CORSPolicyTests {
    static let origin = "https://app.example.com"

    static func app() async throws -> CheckoutApplication {
        try await CheckoutApplicationTests.app(settings: Fixture.settings(cors: [origin]))
    }

    static func preflight(from origin: String, method: String = "POST") -> Request {
        Fixture.request(.options, headers: [.origin: origin, .accessControlRequestMethod: method])
    }

    @Test("a preflight from an allowed origin gets 204 with the allow headers")
    func allowedPreflight() async throws {
        let response = try await Self.app().respond(to: Self.preflight(from: Self.origin))
        #expect(response.head.status.code == 204)
        #expect(response.body.isEmpty)
        let fields = response.head.headerFields
        #expect(fields[.accessControlAllowOrigin] == Self.origin)
        #expect(fields[.accessControlAllowMethods] == "POST, OPTIONS")
        #expect(fields[.accessControlAllowHeaders] == "Authorization, Content-Type, Idempotency-Key")
        #expect(fields[.accessControlMaxAge] == "600")
        #expect(fields[.vary] == "Origin")
    }

    /// A refused preflight never carries the allow headers. One from an allowed origin (the "another method" rows)
    /// still carries `Access-Control-Allow-Origin`, as every response to that origin does (Starlette's 400 does too);
    /// without `Access-Control-Allow-Methods` on a 2xx the browser refuses the request all the same.
    @Test(
        "a preflight from another origin, or for another method, is a 400 without the allow headers",
        arguments: [
            ("https://evil.example.com", "POST"), ("https://app.example.com.evil.com", "POST"), ("null", "POST"),
            ("https://APP.example.com", "POST"), (Self.origin, "DELETE"), (Self.origin, "GET"), (Self.origin, "PUT"),
            (Self.origin, "OPTIONS"), (Self.origin, ""), ("https://evil.example.com", "DELETE"),
        ])
    func refusedPreflight(origin: String, method: String) async throws {
        let response = try await Self.app().respond(to: Self.preflight(from: origin, method: method))
        #expect(response.head.status.code == 400)
        #expect(response.bodyText == #"{"detail":"Disallowed CORS request"}"#)
        #expect(response.head.headerFields[.accessControlAllowOrigin] == (origin == Self.origin ? origin : nil))
        #expect(response.head.headerFields[.accessControlAllowMethods] == nil)
        #expect(response.head.headerFields[.accessControlAllowHeaders] == nil)
        #expect(response.head.headerFields[.accessControlMaxAge] == nil)
    }

    @Test("a preflight from an allowed origin asking for another method is a 400 without the allow headers")
    func preflightForOtherMethod() async throws {
        let response = try await Self.app().respond(to: Self.preflight(from: Self.origin, method: "DELETE"))
        #expect(response.head.status.code == 400)
        #expect(response.bodyText == #"{"detail":"Disallowed CORS request"}"#)
        #expect(response.head.headerFields[.accessControlAllowMethods] == nil)
        #expect(response.head.headerFields[.accessControlAllowHeaders] == nil)
    }

    @Test("ordinary responses carry Access-Control-Allow-Origin only for an allowed origin")
    func decoratesResponses() async throws {
        let token = try await Fixture.hs256()
        let app = try await Self.app()
        for (origin, expected) in [(Self.origin, Self.origin as String?), ("https://evil.example.com", nil)] {
            let headers: HTTPFields = [.authorization: "Bearer \(token)", .origin: origin]
            let success = await app.respond(to: Fixture.request(headers: headers, body: .bytes(Array("{}".utf8))))
            let failure = await app.respond(to: Fixture.request(headers: [.origin: origin]))
            #expect(success.head.status.code == 200)
            #expect(success.head.headerFields[.accessControlAllowOrigin] == expected)
            #expect(failure.head.status.code == 401)
            #expect(failure.head.headerFields[.accessControlAllowOrigin] == expected)
        }
    }

    @Test("without cors_origins no request gets CORS headers, and OPTIONS is a 405")
    func corsOff() async throws {
        let response = try await CheckoutApplicationTests.app().respond(to: Self.preflight(from: Self.origin))
        #expect(response.head.status.code == 405)
        #expect(response.head.headerFields[.allow] == "POST")
        #expect(response.head.headerFields[.accessControlAllowOrigin] == nil)
    }
}
