import HTTPTypes
import Testing

@testable import Billing

/// What the controller sends to Stripe: price from settings, customer from the token, idempotency keys.
@Suite struct CheckoutControllerTests {
    static func checkout(
        claims: TokenClaims = Fixture.claims(), body: String = "{}", headers: HTTPFields = [:],
        settings: Settings = Fixture.settings(), stripe: FakeStripe = FakeStripe()
    ) async throws -> FakeStripe.Call {
        let token = try await Fixture.hs256(claims)
        var fields = CheckoutApplicationTests.authorized(token)
        fields.append(contentsOf: headers)
        let response = try await CheckoutApplicationTests.app(stripe, settings: settings).respond(
            to: Fixture.request(headers: fields, body: .bytes(Array(body.utf8))))
        #expect(response.head.status.code == 200)
        return try #require(stripe.log.calls.last)
    }

    @Test("the price comes from settings even when the body names a price_id")
    func priceFromSettings() async throws {
        let call = try await Self.checkout(body: #"{"price_id":"price_cheap","line_items":[{"price":"price_cheap"}]}"#)
        #expect(call.parameters.priceID == "price_default")
        #expect(call.parameters.successURL == "https://app.example.com/dashboard?success=true")
        #expect(call.parameters.cancelURL == "https://app.example.com/dashboard?canceled=true")
    }

    @Test("a token's plan picks the plan's price")
    func planPrice() async throws {
        let settings = Fixture.settings(stripe: Fixture.stripeSettings(planPrices: ["pro": "price_pro"]))
        let call = try await Self.checkout(claims: Fixture.claims(["plan": .string("pro")]), settings: settings)
        #expect(call.parameters.priceID == "price_pro")
    }

    @Test(
        "the Stripe customer claim wins over the email; the email is used without one",
        arguments: [
            (
                ["stripe_customer_id": TokenClaims.Value.string("cus_1"), "email": .string("a@example.com")],
                "customer=cus_1"
            ),
            (["email": .string("a@example.com")], "customer_email=a%40example.com"),
        ])
    func customerOrEmail(extra: [String: TokenClaims.Value], field: String) async throws {
        let call = try await Self.checkout(claims: Fixture.claims(extra))
        let body = String(decoding: FormEncoder.encode(call.parameters.formFields), as: UTF8.self)
        #expect(body.contains("&\(field)&") || body.hasSuffix("&\(field)"))
        #expect(body.components(separatedBy: "customer").count == 2)
    }

    @Test("optional Stripe settings reach the parameters")
    func optionalSettings() async throws {
        let settings = Fixture.settings(
            stripe: Fixture.stripeSettings(
                allowPromotionCodes: false, automaticTax: true, trialPeriodDays: 14))
        let call = try await Self.checkout(settings: settings)
        #expect(call.parameters.allowPromotionCodes == false)
        #expect(call.parameters.automaticTax)
        #expect(call.parameters.trialPeriodDays == 14)
    }

    @Test("a client's Idempotency-Key gives the same derived key per user and another for another user")
    func idempotencyKeys() async throws {
        let header: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "client-key-1"]
        let first = try await Self.checkout(headers: header).idempotencyKey
        let again = try await Self.checkout(headers: header).idempotencyKey
        let otherUser = try await Self.checkout(claims: Fixture.claims(["sub": .string("u_2")]), headers: header)
        let otherKey = try await Self.checkout(headers: [HTTPField.Name("Idempotency-Key")!: "client-key-2"])
        #expect(first == again)
        // docs/behaviour.md's recipe, computed apart from the code under test:
        // python3 -c 'import hashlib; print("bc-" + hashlib.sha256(b"u_1\0client-key-1").hexdigest())'
        #expect(first == "bc-57c8ba6d48130092fa0d079e33a3e3938aad432171931cfe15bec2b983bdc71f")
        #expect(first != "client-key-1")
        #expect(otherUser.idempotencyKey != first)
        #expect(otherKey.idempotencyKey != first)
    }

    @Test("without a client key every request gets a fresh key")
    func freshKeys() async throws {
        let first = try await Self.checkout().idempotencyKey
        let second = try await Self.checkout(headers: [HTTPField.Name("Idempotency-Key")!: ""]).idempotencyKey
        #expect(first != second)
        #expect(first.hasPrefix("bc-") && second.hasPrefix("bc-"))
    }

    @Test(
        "the derived key is bc- and the hex SHA-256 of user id, NUL, client key (values from Python's hashlib)",
        arguments: [
            // python3 -c 'import hashlib; print("bc-" + hashlib.sha256("USER\0KEY".encode()).hexdigest())'
            ("u_1", "client-key-1", "bc-57c8ba6d48130092fa0d079e33a3e3938aad432171931cfe15bec2b983bdc71f"),
            ("a", "bc", "bc-40bb547d936bbd31318ee37ac8799e7ecbb22eda2651f65e3214bffb8ce97bb4"),
            ("ab", "c", "bc-6c032e631d39a14d85aff7e319546af701e26c97b57ca95fbfe9c6ba855f67bf"),
            ("u_1", "é-ключ", "bc-c8dafe668ef9a34dcff631eb6bea1e719e941df554a434f6f537d513f4753484"),
        ])
    func derivedKeyRecipe(userID: String, clientKey: String, expected: String) {
        #expect(URLSessionStripeClient.derivedIdempotencyKey(clientKey: clientKey, userID: userID) == expected)
    }

    @Test("the derived key cannot be forced to collide by moving text between user id and client key")
    func derivedKeySeparatesParts() {
        #expect(
            URLSessionStripeClient.derivedIdempotencyKey(clientKey: "bc", userID: "a")
                != URLSessionStripeClient.derivedIdempotencyKey(clientKey: "c", userID: "ab"))
        #expect(URLSessionStripeClient.derivedIdempotencyKey(clientKey: "k", userID: "u").count == 3 + 64)
    }
}
