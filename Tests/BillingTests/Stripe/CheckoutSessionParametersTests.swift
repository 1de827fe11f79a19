import Testing

@testable import Billing

/// `CheckoutSessionParameters.formFields`: what is sent to Stripe, field by field.
@Suite struct CheckoutSessionParametersTests {
    static let minimal = CheckoutSessionParameters(
        priceID: "price_123", successURL: "https://app.example.com/s", cancelURL: "https://app.example.com/c",
        userID: "u_1")

    static func names(_ parameters: CheckoutSessionParameters) -> [String] { parameters.formFields.map(\.0) }

    @Test("the minimal set is the subscription, one line item, the URLs and the user id three times")
    func minimalFields() {
        let fields = Self.minimal.formFields
        #expect(
            fields.map(\.0) == [
                "mode", "line_items[0][price]", "line_items[0][quantity]", "success_url", "cancel_url",
                "client_reference_id", "metadata[user_id]", "subscription_data[metadata][user_id]",
            ])
        #expect(
            fields.map(\.1) == [
                "subscription", "price_123", "1", "https://app.example.com/s", "https://app.example.com/c", "u_1",
                "u_1", "u_1",
            ])
    }

    @Test(
        "customer wins over customer_email; never both",
        arguments: [
            ("cus_1" as String?, "a@example.com" as String?, ["customer": "cus_1"]),
            ("cus_1", nil, ["customer": "cus_1"]),
            (nil, "a@example.com", ["customer_email": "a@example.com"]),
            (nil, nil, [:]),
        ])
    func customerOrEmail(customer: String?, email: String?, expected: [String: String]) {
        var parameters = Self.minimal
        parameters.customerID = customer
        parameters.customerEmail = email
        let chosen = parameters.formFields.filter { $0.0 == "customer" || $0.0 == "customer_email" }
        #expect(chosen.count == expected.count)
        #expect(Dictionary(uniqueKeysWithValues: chosen) == expected)
    }

    @Test(
        "optional settings appear only when set",
        arguments: [
            (nil as Bool?, false, nil as Int?, [String]()),
            (true, false, nil, ["allow_promotion_codes=true"]),
            (false, false, nil, ["allow_promotion_codes=false"]),
            (nil, true, nil, ["automatic_tax[enabled]=true"]),
            (nil, false, 7, ["subscription_data[trial_period_days]=7"]),
        ])
    func optionalFields(promotionCodes: Bool?, tax: Bool, trial: Int?, extra: [String]) {
        var parameters = Self.minimal
        parameters.allowPromotionCodes = promotionCodes
        parameters.automaticTax = tax
        parameters.trialPeriodDays = trial
        #expect(parameters.formFields.dropFirst(8).map { "\($0.0)=\($0.1)" } == extra)
    }
}
