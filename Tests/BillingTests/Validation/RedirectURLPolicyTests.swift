import Testing

@testable import Billing

/// `RedirectURLPolicy.violation(in:)`: what may be sent to Stripe as a redirect.
@Suite struct RedirectURLPolicyTests {
    let policy = RedirectURLPolicy(allowedOrigins: [
        Fixture.appOrigin, Origin(scheme: "http", host: "localhost", port: 3000),
    ])

    @Test(
        "accepts URLs on an allowed origin, however the origin is spelled",
        arguments: [
            "https://app.example.com", "https://app.example.com/dashboard?success=true",
            "HTTPS://App.Example.com:443/x", "http://localhost:3000/dashboard?canceled=true",
            "https://app.example.com/done?session_id={CHECKOUT_SESSION_ID}", "https://app.example.com/ü?q=é",
        ])
    func accepts(url: String) {
        #expect(policy.violation(in: url) == nil)
    }

    @Test(
        "refuses other origins and disguised hosts with the reason",
        arguments: [
            ("http://localhost:3001/", "URL origin http://localhost:3001 is not allowed"),
            ("https://localhost:3000/", "URL origin https://localhost:3000 is not allowed"),
            ("https://app.example.com.evil.com/", "URL origin https://app.example.com.evil.com is not allowed"),
            ("https://app.example.com./", "URL origin https://app.example.com. is not allowed"),
            ("https://app.example.com\u{7F}/", "URL must not contain control characters"),
            ("https://app.example.com/\u{85}", "URL must not contain control characters"),
            ("https://app.example.com/\u{A0}", "URL must not contain whitespace"),
            ("https://app.example.com/\u{2028}", "URL must not contain whitespace"),
            ("https://app.example.com/\r\nx", "URL must not contain control characters"),
        ])
    func refuses(url: String, reason: String) {
        #expect(policy.violation(in: url) == reason)
    }

    @Test("counts length in Unicode scalars, as Python's len does")
    func lengthInScalars() {
        let base = "https://app.example.com/"
        let fits = base + String(repeating: "é", count: 2048 - base.count)
        #expect(policy.violation(in: fits) == nil)
        #expect(policy.violation(in: fits + "é") == "URL must be at most 2048 characters")
    }
}
