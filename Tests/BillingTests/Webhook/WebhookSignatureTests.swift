import Testing

@testable import Billing

/// `WebhookSignature.verify`: Stripe's scheme, against signatures computed by Python's `hmac` (not by the code
/// under test).
@Suite struct WebhookSignatureTests {
    static let body = Array(#"{"id":"evt_1","type":"invoice.paid"}"#.utf8)
    static let t = 1_796_160_000
    /// `hmac.new(b"whsec_test_secret_one", b"1796160000." + body, sha256).hexdigest()`
    static let one = "498c164a4537e335a2f24878b38ee9f5a6ece37ce93c1e38d59ba318b7cd56e4"
    /// The same with `whsec_test_secret_two`.
    static let two = "7646d641d22a2e5a2f5c838c4b1c67bbcddd2c89f93dc2a532f538e5b80b386d"
    static let verifier = WebhookSignature(secrets: [Secret("whsec_test_secret_one")], toleranceSeconds: 300)

    static func reason(
        _ header: String?, body: [UInt8] = body, now: Double = Double(t) + 10, verifier: WebhookSignature = verifier
    ) -> String? {
        do throws(CheckoutError) {
            try verifier.verify(payload: body, header: header, now: now)
            return nil
        } catch {
            return error.logReason ?? "\(error)"
        }
    }

    @Test(
        "headers that verify",
        arguments: [
            "t=\(t),v1=\(one)", "t=\(t),v1=\(String(repeating: "0", count: 64)),v1=\(one)",
            "t=\(t),v0=\(String(repeating: "0", count: 64)),v1=\(one)", "v1=\(one),t=\(t)",
            "t=\(t),v1=\(one),x=y,garbage",
        ])
    func verifies(header: String) {
        #expect(Self.reason(header) == nil)
    }

    @Test(
        "headers that do not, each with its reason",
        arguments: [
            (nil, "no Stripe-Signature header"), ("", "no Stripe-Signature header"),
            ("v1=\(one)", "no timestamp (t=) in Stripe-Signature"),
            ("t=,v1=\(one)", "no timestamp (t=) in Stripe-Signature"),
            ("t=-5,v1=\(one)", "no timestamp (t=) in Stripe-Signature"),
            ("t=1e9,v1=\(one)", "no timestamp (t=) in Stripe-Signature"),
            ("t=99999999999999999999,v1=\(one)", "no timestamp (t=) in Stripe-Signature"),
            ("t=\(t)", "no v1 signature in Stripe-Signature"),
            ("t=\(t),v0=\(one)", "no v1 signature in Stripe-Signature"),
            ("t=\(t),v1=\(one.uppercased())", "no v1 signature matches a configured secret"),
            ("t=\(t),v1=\(one.dropLast())", "no v1 signature matches a configured secret"),
            ("t=\(t),v1=\(one)0", "no v1 signature matches a configured secret"),
            ("t=\(t),v1=\(two)", "no v1 signature matches a configured secret"),
            ("t=\(t + 1),v1=\(one)", "no v1 signature matches a configured secret"),
            ("t=\(t), v1=\(one)", "no v1 signature in Stripe-Signature"),
            (String(repeating: "t=1,", count: 3000), "Stripe-Signature longer than 8192 bytes"),
        ] as [(String?, String)])
    func refuses(header: String?, reason: String) {
        #expect(Self.reason(header) == reason)
    }

    @Test("one byte of the body changed, added or removed: refused", arguments: [0, 10, 35])
    func bodyChanged(index: Int) {
        var changed = Self.body
        changed[index] ^= 0x01
        #expect(Self.reason("t=\(Self.t),v1=\(Self.one)", body: changed) == "no v1 signature matches a configured secret")
        #expect(
            Self.reason("t=\(Self.t),v1=\(Self.one)", body: Self.body + [0x0A])
                == "no v1 signature matches a configured secret")
        #expect(
            Self.reason("t=\(Self.t),v1=\(Self.one)", body: Array(Self.body.dropLast()))
                == "no v1 signature matches a configured secret")
    }

    @Test("the tolerance: up to 300 s old passes, older is refused; a t ahead of the clock passes, as in Stripe's libraries")
    func tolerance() {
        let header = "t=\(Self.t),v1=\(Self.one)"
        #expect(Self.reason(header, now: Double(Self.t) + 300) == nil)
        #expect(Self.reason(header, now: Double(Self.t) + 301) == "timestamp older than the 300 s tolerance")
        #expect(Self.reason(header, now: Double(Self.t) - 3600) == nil)
        let strict = WebhookSignature(secrets: [Secret("whsec_test_secret_one")], toleranceSeconds: 5)
        #expect(Self.reason(header, now: Double(Self.t) + 6, verifier: strict) == "timestamp older than the 5 s tolerance")
    }

    @Test("rotation: with both secrets configured, a signature by either verifies")
    func rotation() {
        let both = WebhookSignature(
            secrets: [Secret("whsec_test_secret_one"), Secret("whsec_test_secret_two")], toleranceSeconds: 300)
        #expect(Self.reason("t=\(Self.t),v1=\(Self.one)", verifier: both) == nil)
        #expect(Self.reason("t=\(Self.t),v1=\(Self.two)", verifier: both) == nil)
        #expect(Self.reason("t=\(Self.t),v1=\(Self.two)") == "no v1 signature matches a configured secret")
    }

    @Test("the comparison is exact, byte for byte")
    func comparison() {
        #expect(WebhookSignature.constantTimeEqual(Array("ab".utf8), Array("ab".utf8)))
        #expect(!WebhookSignature.constantTimeEqual(Array("ab".utf8), Array("ac".utf8)))
        #expect(!WebhookSignature.constantTimeEqual(Array("ab".utf8), Array("abc".utf8)))
    }
}
