/// Who is checking out, as the verified token says.
public struct UserIdentity: Sendable, Equatable {
    /// The token's `sub`: the SaaS's user id.
    public var userID: String
    /// The token's `email`, when it has one.
    public var email: String?
    /// The plan claim, when the token has one.
    public var plan: String?
    /// The Stripe customer claim, when the token has one.
    public var stripeCustomerID: String?

    /// Creates an identity from its parts.
    public init(userID: String, email: String? = nil, plan: String? = nil, stripeCustomerID: String? = nil) {
        self.userID = userID
        self.email = email
        self.plan = plan
        self.stripeCustomerID = stripeCustomerID
    }
}
