import Testing

@testable import Billing

/// `PriceResolver`: the price comes from settings and the token's plan, never from the request.
@Suite struct PriceResolverTests {
    static let resolver = PriceResolver(
        settings: Fixture.stripeSettings(
            defaultPrice: "price_default",
            planPrices: ["pro": "price_pro", "team-2": "price_team", "Agency_X": "price_ax"]))

    static func price(_ plan: String?, resolver: PriceResolver = resolver) -> Result<String, CheckoutError> {
        do throws(CheckoutError) {
            return .success(try resolver.price(for: UserIdentity(userID: "u_1", plan: plan)))
        } catch {
            return .failure(error)
        }
    }

    @Test("a user without a plan gets the default price")
    func defaultPrice() {
        #expect(Self.price(nil) == .success("price_default"))
    }

    @Test(
        "a plan with a configured price gets that price",
        arguments: [
            ("pro", "price_pro"), ("team-2", "price_team"), ("Agency_X", "price_ax"),
        ])
    func planPrice(plan: String, price: String) {
        #expect(Self.price(plan) == .success(price))
    }

    @Test(
        "a plan without a price is refused, never given the default",
        arguments: [
            "free", "PRO", "agency", "pro.annual", "stripe.priceId", "../pro", "pro ", "pro\n", "prö",
            String(repeating: "p", count: 65),
        ])
    func planWithoutPrice(plan: String) {
        #expect(Self.price(plan) == .failure(.noPriceForPlan(plan)))
    }

    @Test("a plain plan name of 64 characters is looked up")
    func longestPlainName() {
        let plan = String(repeating: "p", count: 64)
        let resolver = PriceResolver(settings: Fixture.stripeSettings(planPrices: [plan: "price_long"]))
        #expect(Self.price(plan, resolver: resolver) == .success("price_long"))
    }

    @Test("a name with a dot is refused before the lookup, so it cannot reach another settings key")
    func dottedNameNeverLookedUp() {
        let resolver = PriceResolver(
            settings: StripeSettings(
                secretKey: Secret(Fixture.stripeKey), defaultPriceID: "price_default",
                planPrices: PlanPrices(lookup: { _ in "price_from_lookup" })))
        #expect(Self.price("a.b", resolver: resolver) == .failure(.noPriceForPlan("a.b")))
        #expect(Self.price("ab", resolver: resolver) == .success("price_from_lookup"))
    }

    @Test("no plan and no default price is refused with nil")
    func noPlanNoDefault() {
        let resolver = PriceResolver(
            settings: Fixture.stripeSettings(defaultPrice: nil, planPrices: ["pro": "price_pro"]))
        #expect(Self.price(nil, resolver: resolver) == .failure(.noPriceForPlan(nil)))
        #expect(Self.price("pro", resolver: resolver) == .success("price_pro"))
    }

    @Test(
        "the 403 body names the plan",
        arguments: [
            (CheckoutError.noPriceForPlan("agency"), #"{"detail":"No price is configured for plan 'agency'"}"#),
            (CheckoutError.noPriceForPlan(nil), #"{"detail":"No price is configured for users without a plan"}"#),
        ])
    func forbiddenBody(error: CheckoutError, body: String) {
        #expect(error.response.head.status.code == 403)
        #expect(error.bodyText == body)
    }
}
