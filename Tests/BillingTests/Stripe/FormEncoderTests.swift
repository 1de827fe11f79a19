import Testing

@testable import Billing

/// `FormEncoder.encode`: Stripe's bracket notation, every value percent-encoded.
@Suite struct FormEncoderTests {
    static func encoded(_ fields: [(String, String)]) -> String {
        String(decoding: FormEncoder.encode(fields), as: UTF8.self)
    }

    @Test("a full parameter set encodes to exactly Stripe's form body")
    func fullParameterSet() {
        let parameters = CheckoutSessionParameters(
            priceID: "price_123", successURL: "https://app.example.com/done?session_id={CHECKOUT_SESSION_ID}",
            cancelURL: "https://app.example.com/dashboard?canceled=true", userID: "user 1/ü",
            customerEmail: "a+b@example.com", allowPromotionCodes: true, automaticTax: true, trialPeriodDays: 14)
        #expect(
            Self.encoded(parameters.formFields)
                == "mode=subscription&line_items[0][price]=price_123&line_items[0][quantity]=1"
                + "&success_url=https%3A%2F%2Fapp.example.com%2Fdone%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D"
                + "&cancel_url=https%3A%2F%2Fapp.example.com%2Fdashboard%3Fcanceled%3Dtrue"
                + "&client_reference_id=user%201%2F%C3%BC&metadata[user_id]=user%201%2F%C3%BC"
                + "&subscription_data[metadata][user_id]=user%201%2F%C3%BC&customer_email=a%2Bb%40example.com"
                + "&allow_promotion_codes=true&automatic_tax[enabled]=true&subscription_data[trial_period_days]=14")
    }

    @Test(
        "values are percent-encoded outside the unreserved set, brackets included",
        arguments: [
            ("a b", "a%20b"), ("{CHECKOUT_SESSION_ID}", "%7BCHECKOUT_SESSION_ID%7D"), ("a&b=c", "a%26b%3Dc"),
            ("[0]", "%5B0%5D"), ("-._~", "-._~"), ("é", "%C3%A9"), ("😀", "%F0%9F%98%80"), ("+", "%2B"),
            ("%", "%25"), ("\n", "%0A"), ("", ""),
        ])
    func values(value: String, expected: String) {
        #expect(Self.encoded([("k", value)]) == "k=\(expected)")
    }

    @Test("keys keep their brackets but not other reserved characters")
    func keys() {
        #expect(Self.encoded([("a[b][0]", "1"), ("c d&e", "2")]) == "a[b][0]=1&c%20d%26e=2")
    }

    @Test("no fields encode to no bytes")
    func empty() {
        #expect(FormEncoder.encode([]).isEmpty)
    }
}
