import BillingStore

/// `POST …/portal`: a Stripe Billing Portal session for the user's customer, its URL checked like Checkout's.
struct PortalController: Sendable {
    let store: any BillingStore
    let stripe: any StripeClient
    let redirectPolicy: RedirectURLPolicy
    let defaultReturnURL: String
    let strictContentType: Bool

    /// `{"url": …}` of a new portal session; 409 when no Stripe customer is known for the user.
    func portal(for user: UserIdentity, body: [UInt8], contentType: String?) async throws(CheckoutError) -> JSONValue {
        let returnURL = try Self.returnURL(
            body: body, contentType: contentType, strict: strictContentType, fallback: defaultReturnURL,
            policy: redirectPolicy)
        let userID = user.userID
        let known = try await state { () async throws(StoreError) in try await store.customer(forUser: userID) }
        guard let customer = known ?? user.stripeCustomerID else { throw .noBillingAccount }
        let url = try await stripe.createPortalSession(customerID: customer, returnURL: returnURL)
        return .object(JSONObject([("url", .string(url))]))
    }

    /// `return_url` from an optional JSON body `{"return_url"?}`, validated like `success_url`.
    static func returnURL(
        body: [UInt8], contentType: String?, strict: Bool, fallback: String, policy: RedirectURLPolicy
    ) throws(CheckoutError) -> String {
        // No body at all is the common case: the browser only wants the portal.
        if body.isEmpty { return fallback }
        let object = try CheckoutBody.jsonObject(body, contentType: contentType, strict: strict)
        switch object["return_url"] {
        case nil:
            return fallback
        case .string(let url)?:
            if let reason = policy.violation(in: url) {
                throw .validation([.valueError(field: "return_url", input: url, reason: reason)])
            }
            return url
        case let other?:
            throw .validation([.notAString(field: "return_url", input: other)])
        }
    }
}
