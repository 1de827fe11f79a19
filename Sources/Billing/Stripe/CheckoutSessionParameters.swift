/// What is sent to `POST /v1/checkout/sessions`, decided entirely on the server.
public struct CheckoutSessionParameters: Sendable, Equatable {
    /// The price, resolved from settings and the user's plan.
    public var priceID: String
    /// Where Stripe sends the customer after paying.
    public var successURL: String
    /// Where Stripe sends the customer after cancelling.
    public var cancelURL: String
    /// The SaaS's user id (`sub`).
    public var userID: String
    /// The user's Stripe customer, when the token names one.
    public var customerID: String?
    /// The user's email, used only when there is no customer.
    public var customerEmail: String?
    /// `allow_promotion_codes`, when configured.
    public var allowPromotionCodes: Bool?
    /// `automatic_tax[enabled]`.
    public var automaticTax: Bool
    /// `subscription_data[trial_period_days]`, when configured.
    public var trialPeriodDays: Int?

    /// Creates the parameters from their parts.
    public init(
        priceID: String, successURL: String, cancelURL: String, userID: String, customerID: String? = nil,
        customerEmail: String? = nil, allowPromotionCodes: Bool? = nil, automaticTax: Bool = false,
        trialPeriodDays: Int? = nil
    ) {
        self.priceID = priceID
        self.successURL = successURL
        self.cancelURL = cancelURL
        self.userID = userID
        self.customerID = customerID
        self.customerEmail = customerEmail
        self.allowPromotionCodes = allowPromotionCodes
        self.automaticTax = automaticTax
        self.trialPeriodDays = trialPeriodDays
    }

    /// The parameters as Stripe's bracket-notation form fields, in a stable order.
    ///
    /// `customer` and `customer_email` are never both sent: Stripe rejects that combination.
    public var formFields: [(String, String)] {
        var fields: [(String, String)] = [
            ("mode", "subscription"),
            ("line_items[0][price]", priceID),
            ("line_items[0][quantity]", "1"),
            ("success_url", successURL),
            ("cancel_url", cancelURL),
            ("client_reference_id", userID),
            ("metadata[user_id]", userID),
            ("subscription_data[metadata][user_id]", userID),
        ]
        if let customerID {
            fields.append(("customer", customerID))
        } else if let customerEmail {
            fields.append(("customer_email", customerEmail))
        }
        if let allowPromotionCodes {
            fields.append(("allow_promotion_codes", allowPromotionCodes ? "true" : "false"))
        }
        if automaticTax {
            fields.append(("automatic_tax[enabled]", "true"))
        }
        if let trialPeriodDays {
            fields.append(("subscription_data[trial_period_days]", String(trialPeriodDays)))
        }
        return fields
    }
}
