import HTTPTypes
import Testing

@testable import FastCGI

/// `CGIEnvironment`: RFC 3875 meta-variables to an `HTTPRequest`.
@Suite struct CGIEnvironmentTests {
    static func head(_ params: [String: String]) throws -> HTTPRequest {
        try CGIEnvironment.requestHead(from: params)
    }

    @Test("REQUEST_URI is the path, query included, over SCRIPT_NAME and PATH_INFO")
    func requestURIPreferred() throws {
        let head = try Self.head([
            "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/v1/billing/checkout?x=1", "SCRIPT_NAME": "/cgi-bin/billing",
            "PATH_INFO": "/other", "QUERY_STRING": "y=2",
        ])
        #expect(head.method == .post)
        #expect(head.path == "/api/v1/billing/checkout?x=1")
    }

    @Test(
        "without REQUEST_URI the path is SCRIPT_NAME + PATH_INFO + ?QUERY_STRING",
        arguments: [
            (
                ["SCRIPT_NAME": "/api/v1/billing", "PATH_INFO": "/checkout", "QUERY_STRING": "a=1"],
                "/api/v1/billing/checkout?a=1"
            ),
            (["SCRIPT_NAME": "/api/v1/billing/checkout", "QUERY_STRING": ""], "/api/v1/billing/checkout"),
            (["PATH_INFO": "/api/v1/billing/checkout"], "/api/v1/billing/checkout"),
            (["REQUEST_URI": "", "SCRIPT_NAME": "/s"], "/s"),
            ([:], "/"), (["QUERY_STRING": "a=1"], "/?a=1"),
        ])
    func fallbackPath(params: [String: String], path: String) throws {
        var params = params
        params["REQUEST_METHOD"] = "GET"
        #expect(try Self.head(params).path == path)
        #expect(CGIEnvironment.path(from: params) == path)
    }

    @Test("HTTP_* become headers, CONTENT_TYPE and CONTENT_LENGTH too; other variables do not")
    func headers() throws {
        let head = try Self.head([
            "REQUEST_METHOD": "POST", "HTTP_AUTHORIZATION": "Bearer abc", "HTTP_X_FORWARDED_FOR": "10.0.0.1",
            "HTTP_IDEMPOTENCY_KEY": "k-1", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "12",
            "HTTP_HOST": "api.example.com", "HTTPS": "on", "SERVER_NAME": "ignored", "REMOTE_ADDR": "10.0.0.2",
            "HTTP_": "x", "HTTP_BAD NAME": "x", "PATH": "/usr/bin", "STRIPE_SECRET_KEY": "sk_test_x",
        ])
        let fields = head.headerFields
        #expect(fields[.authorization] == "Bearer abc")
        #expect(fields[HTTPField.Name("X-Forwarded-For")!] == "10.0.0.1")
        #expect(fields[HTTPField.Name("Idempotency-Key")!] == "k-1")
        #expect(fields[.contentType] == "application/json")
        #expect(fields[.contentLength] == "12")
        #expect(head.scheme == "https")
        #expect(head.authority == "api.example.com")
        #expect(fields.count == 6)
        #expect(!fields.contains { $0.value == "sk_test_x" || $0.value == "/usr/bin" || $0.value == "10.0.0.2" })
    }

    @Test("the scheme is http unless HTTPS is on, and the authority falls back to SERVER_NAME")
    func schemeAndAuthority() throws {
        let head = try Self.head(["REQUEST_METHOD": "GET", "HTTPS": "off", "SERVER_NAME": "billing.local"])
        #expect(head.scheme == "http")
        #expect(head.authority == "billing.local")
    }

    @Test(
        "a missing or malformed REQUEST_METHOD throws",
        arguments: [nil, "", "GET POST", "GE\nT", "(POST)"] as [String?])
    func invalidMethod(method: String?) {
        var params = ["REQUEST_URI": "/"]
        params["REQUEST_METHOD"] = method
        #expect(throws: CGIEnvironment.Failure.invalidMethod) { try Self.head(params) }
    }

    @Test("extension methods that are HTTP tokens are kept", arguments: ["PATCH", "PURGE", "OPTIONS"])
    func extensionMethods(method: String) throws {
        #expect(try Self.head(["REQUEST_METHOD": method]).method.rawValue == method)
    }

    @Test(
        "CONTENT_LENGTH is read strictly",
        arguments: [
            (nil as String?, CGIEnvironment.DeclaredLength.absent), ("", .absent), ("0", .exactly(0)),
            ("12", .exactly(12)),
            ("65536", .exactly(65536)), ("65537", .tooLarge), ("99999999999999999999999", .tooLarge),
            ("-1", .malformed),
            ("abc", .malformed), (" 12", .malformed), ("+12", .malformed), ("1e3", .malformed), ("١٢", .malformed),
        ])
    func declaredLength(value: String?, expected: CGIEnvironment.DeclaredLength) {
        #expect(CGIEnvironment.declaredLength(value, limit: 65536) == expected)
    }
}
