import Testing

@testable import Billing

/// `Origin(url:)`: the browser's view of scheme, host and port.
@Suite struct OriginTests {
    @Test(
        "parses scheme, host and port, filling in default ports and lowercasing",
        arguments: [
            ("https://app.example.com", "https", "app.example.com", 443),
            ("http://app.example.com/x?y#z", "http", "app.example.com", 80),
            ("HTTPS://APP.Example.COM/Path", "https", "app.example.com", 443),
            ("https://app.example.com:8443/", "https", "app.example.com", 8443),
            ("http://localhost:3000/dashboard", "http", "localhost", 3000),
            ("https://app.example.com:/x", "https", "app.example.com", 443),
            ("https://app.example.com:0443", "https", "app.example.com", 443),
            ("http://[::1]:8080/x", "http", "[::1]", 8080),
            ("https://[2001:db8::1]/", "https", "[2001:db8::1]", 443),
            ("http://127.0.0.1", "http", "127.0.0.1", 80),
            (#"https://evil.com\@app.example.com"#, "https", "evil.com", 443),
            ("https://evil.com#@app.example.com", "https", "evil.com", 443),
            ("https://evil.com?@app.example.com", "https", "evil.com", 443),
        ])
    func parses(url: String, scheme: String, host: String, port: Int) throws {
        #expect(try Origin(url: url) == Origin(scheme: scheme, host: host, port: port))
    }

    @Test(
        "refuses what is not an absolute http(s) URL with a host",
        arguments: [
            ("/relative", Origin.ParseError.notHTTP), ("javascript:alert(1)", .notHTTP),
            ("ftp://app.example.com", .notHTTP),
            ("//app.example.com/x", .notHTTP), ("https:app.example.com", .notHTTP), ("", .notHTTP),
            ("https://", .invalidHost), ("https:///x", .invalidHost), ("https://:443/", .invalidHost),
            (#"https://\evil.com"#, .invalidHost), ("https://app%2eexample.com", .invalidHost),
            ("http://[::1/", .invalidHost), ("http://[::1]x/", .invalidHost), ("https://app example.com", .invalidHost),
            ("https://app.example.com:0", .invalidPort), ("https://app.example.com:65536", .invalidPort),
            ("https://app.example.com:-1", .invalidPort), ("https://app.example.com:80a", .invalidPort),
            ("https://app.example.com:+443", .invalidPort), ("https://app.example.com:٤٤٣", .invalidPort),
            ("https://app.example.com:99999999999999999999", .invalidPort),
            ("https://user@app.example.com", .userInfo), ("https://user:pw@app.example.com", .userInfo),
            ("https://app.example.com@evil.com", .userInfo),
        ])
    func refuses(url: String, error: Origin.ParseError) {
        #expect(throws: error) { try Origin(url: url) }
    }

    @Test(
        "describes itself without the default port, with any other",
        arguments: [
            (Origin(scheme: "https", host: "app.example.com", port: 443), "https://app.example.com"),
            (Origin(scheme: "http", host: "app.example.com", port: 80), "http://app.example.com"),
            (Origin(scheme: "http", host: "app.example.com", port: 443), "http://app.example.com:443"),
            (Origin(scheme: "https", host: "[::1]", port: 8443), "https://[::1]:8443"),
        ])
    func describes(origin: Origin, text: String) {
        #expect(origin.description == text)
    }
}
