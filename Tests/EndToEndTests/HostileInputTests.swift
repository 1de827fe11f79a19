import Foundation
import Testing

/// Hostile requests through the binary: each gets a clear 4xx and the process ends normally.
@Suite("Hostile input end to end")
struct HostileInputTests {
    @Test("bodies that attack the parser are 400s, not crashes")
    func unreadableBodies() async throws {
        let harness = try await CheckoutHarness()
        let bearer = harness.authorized(try await Tokens.make())
        let bodies: [(String, Data)] = [
            ("invalid UTF-8", Data([0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D])),
            ("nesting 20,000 deep", Data(String(repeating: "[", count: 20_000).utf8)),
            ("a 5,000-digit integer", Data(("{\"success_url\":" + String(repeating: "9", count: 5_000) + "}").utf8)),
        ]
        for (name, body) in bodies {
            let result = try await ProcessRunner.run(
                harness.binary, environment: harness.cgiEnvironment(headers: bearer, contentLength: body.count),
                stdin: body)
            #expect(result.exitCode == 0, "\(name)")
            let parsed = try CGIResponse.parse(result.stdout)
            #expect(parsed.status == 400, "\(name)")
            #expect(parsed.bodyText == #"{"detail":"There was an error parsing the body"}"#, "\(name)")
        }
    }

    @Test("duplicate keys: the last one wins, as Python's json does")
    func duplicateKeys() async throws {
        let harness = try await CheckoutHarness()
        let body = #"{"success_url":"https://evil.example/x","success_url":"http://localhost:3000/ok"}"#
        let (response, _) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()), body: body)
        #expect(response.status == 200)
        let call = try #require(try await harness.standIn.recordedRequests().first)
        #expect(call.param("success_url") == "http://localhost:3000/ok")
    }

    @Test(
        "NUL, CR and LF in URLs are refused, and nothing a client sends can add a response header",
        arguments: [
            #"{"success_url":"http://localhost:3000/\u0000x"}"#,
            #"{"success_url":"http://localhost:3000/x\r\nSet-Cookie: a=b"}"#,
            #"{"cancel_url":"http://localhost:3000/\nx"}"#,
        ])
    func controlCharactersInURLs(body: String) async throws {
        let harness = try await CheckoutHarness()
        let (response, _) = try await harness.cgi(headers: harness.authorized(try await Tokens.make()), body: body)
        #expect(response.status == 422)
        #expect(response.bodyText.contains(#""msg":"Value error, URL must not contain control characters""#))
        #expect(response.headers["set-cookie"] == nil)
    }

    @Test("CR/LF in request headers never reach a response header")
    func headerInjection() async throws {
        let harness = try await CheckoutHarness()
        var headers = harness.authorized(try await Tokens.make())
        headers["Origin"] = "http://localhost:3000\r\nX-Injected: 1"
        headers["Idempotency-Key"] = "k\r\nX-Injected: 2"
        let (response, _) = try await harness.cgi(
            headers: headers, settings: ["CORS_ORIGINS": "http://localhost:3000"])
        #expect(response.status == 200)
        #expect(response.headers["x-injected"] == nil)
        #expect(response.headers["access-control-allow-origin"] == nil)
        #expect(!response.headerLines.contains { $0.contains("X-Injected") })
    }

    @Test(
        "hostile tokens are 401s",
        arguments: [
            "a" + String(repeating: "b", count: 10_000),
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.",
            "eyJhbGciOiJIUzI1NiJ9." + String(repeating: "A", count: 9_000) + ".sig",
            "....",
            "e30.e30.e30",
        ])
    func hostileTokens(token: String) async throws {
        let harness = try await CheckoutHarness()
        let (response, _) = try await harness.cgi(headers: ["Authorization": "Bearer \(token)"])
        #expect(response.status == 401)
        #expect(response.bodyText == #"{"detail":"Could not validate credentials"}"#)
    }

    @Test("an alg: none token is refused even when it copies a valid token's claims")
    func algNone() async throws {
        let harness = try await CheckoutHarness()
        let valid = try await Tokens.make()
        let payload = valid.split(separator: ".")[1]
        let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
        for token in ["\(header).\(payload).", "\(header).\(payload).\(valid.split(separator: ".")[2])"] {
            let (response, _) = try await harness.cgi(headers: ["Authorization": "Bearer \(token)"])
            #expect(response.status == 401)
        }
    }

    /// docs/behaviour.md: an invalid `REQUEST_METHOD` never reaches the application; the transport answers 400.
    @Test(
        "a REQUEST_METHOD that is not an HTTP token, or none, gets the transport's 400 Bad Request (CGI)",
        arguments: ["GE T", "", "POST\r\nX-Injected: 1", "PO(ST", nil])
    func invalidMethod(method: String?) async throws {
        let harness = try await CheckoutHarness()
        let (response, _) = try await harness.cgi(
            headers: harness.authorized(try await Tokens.make()), settings: ["REQUEST_METHOD": method])
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"detail":"Bad Request"}"#)
        #expect(response.headers["cache-control"] == "no-store")
        #expect(response.headers["x-injected"] == nil)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    @Test("HEAD on the endpoint is a 405 with Allow: POST, even with a valid token and body (CGI)")
    func headIsNotAllowed() async throws {
        let harness = try await CheckoutHarness()
        let (response, _) = try await harness.cgi(method: "HEAD", headers: harness.authorized(try await Tokens.make()))
        #expect(response.status == 405)
        #expect(response.headers["allow"] == "POST")
        #expect(response.bodyText == #"{"detail":"Method Not Allowed"}"#)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    /// docs/behaviour.md, "Order of checks": 422 before 403, as in FastAPI, where the body is validated first.
    @Test(
        "a body that is invalid is a 422 even when the token's plan has no price (which alone is a 403)",
        arguments: [
            ("[]", "model_attributes_type"), (#"{"success_url":"https://evil.example/x"}"#, "value_error"),
            (#"{"cancel_url":1}"#, "string_type"),
        ])
    func validationBeforePrice(body: String, type: String) async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make(plan: "enterprise")
        let (response, _) = try await harness.cgi(headers: harness.authorized(token), body: body)
        #expect(response.status == 422)
        #expect(response.bodyText.contains(#""type":"\#(type)""#), "\(response.bodyText)")
        #expect(try await harness.standIn.recordedRequests().isEmpty)
        // The same token with a valid body is the 403: both checks apply above, and the 422 won.
        let (priced, _) = try await harness.cgi(headers: harness.authorized(token))
        #expect(priced.status == 403)
    }
}
