import Testing

@testable import Billing

/// `Secret`: usable where needed, `<redacted>` everywhere else.
@Suite struct SecretTests {
    @Test("prints as <redacted> however it is printed")
    func redacted() {
        let secret = Secret("sk_live_very_secret")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        #expect(!String(describing: Fixture.stripeSettings()).contains(Fixture.stripeKey))
        #expect(!String(reflecting: Fixture.settings()).contains(Fixture.hmacSecret))
        #expect(secret.value == "sk_live_very_secret")
    }
}
