/// Picks the Stripe price for a user from settings alone; the request body has no say in it.
struct PriceResolver: Sendable {
    /// Plan names are looked up as settings keys, so they are held to a plain alphabet and length.
    static let maxPlanLength = 64

    let settings: StripeSettings

    /// `stripe.prices.<plan>` when the token names a plan, else `stripe.priceId`; a plan without a
    /// configured price is refused, never given the default price.
    func price(for identity: UserIdentity) throws(CheckoutError) -> String {
        guard let plan = identity.plan else {
            guard let price = settings.defaultPriceID else { throw .noPriceForPlan(nil) }
            return price
        }
        guard Self.isPlainName(plan), let price = settings.planPrices.price(for: plan) else {
            throw .noPriceForPlan(plan)
        }
        return price
    }

    /// Letters, digits, `-` and `_`, at most 64 of them.
    static func isPlainName(_ plan: String) -> Bool {
        !plan.isEmpty && plan.utf8.count <= maxPlanLength
            && plan.utf8.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }
}
