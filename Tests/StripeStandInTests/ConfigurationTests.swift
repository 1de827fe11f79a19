import Foundation
import Testing

@testable import stripe_stand_in

/// Unit checks for the settings the stand-in reads and for its webhook signature, inside the executable module.
@Suite struct ConfigurationTests {

    /// The webhook and switch variables are read; unset ones keep their defaults.
    @Test func readsWebhookAndSwitches() throws {
        let defaults = try StandInConfiguration.parse(arguments: [], environment: [:])
        #expect(defaults.webhookSecret == "whsec_standin_test_secret")
        #expect(defaults.webhookURL == nil)
        #expect(!defaults.strictCustomers && defaults.portalConfigured)
        let set = try StandInConfiguration.parse(
            arguments: [],
            environment: [
                "STAND_IN_WEBHOOK_SECRET": "whsec_x",
                "STAND_IN_WEBHOOK_URL": "http://127.0.0.1:8080/api/v1/billing/webhook",
                "STAND_IN_STRICT_CUSTOMERS": "1", "STAND_IN_PORTAL_CONFIGURED": "0",
            ])
        #expect(set.webhookSecret == "whsec_x")
        #expect(set.webhookURL?.absoluteString == "http://127.0.0.1:8080/api/v1/billing/webhook")
        #expect(set.strictCustomers && !set.portalConfigured)
    }

    /// A webhook URL that is not an absolute http(s) URL is refused at start.
    @Test(arguments: ["ftp://a.example/hook", "/hook", "http://"])
    func refusesBadWebhookURLs(url: String) {
        #expect(throws: ConfigurationError.self) {
            _ = try StandInConfiguration.parse(arguments: [], environment: ["STAND_IN_WEBHOOK_URL": url])
        }
    }

    /// The signature is `t=<t>,v1=<hex>` and its v1 matches an HMAC computed by openssl, for any body bytes.
    @Test func signsWithTheWholeSecret() throws {
        let body = Data(#"{"id":"evt_1","text":"é ✓ \n"}"#.utf8)
        let header = WebhookSignature.header(body: body, secret: "whsec_abc", timestamp: 1_700_000_000)
        #expect(header.hasPrefix("t=1700000000,v1="))
        #expect(try IndependentSignature.verifies(header, body: body, secret: "whsec_abc"))
        #expect(try !IndependentSignature.verifies(header, body: body, secret: "abc"))
        #expect(WebhookSignature.wrongSecret(for: "whsec_abc") != "whsec_abc")
        #expect(WebhookSignature.wrongSecret(for: "whsec_standin_wrong_secret") != "whsec_standin_wrong_secret")
    }

    /// `previous_attributes` holds exactly the members whose values changed, with their old values.
    @Test func computesPreviousAttributes() {
        let old = JSON.object([("status", .string("incomplete")), ("customer", .string("cus_1")), ("n", .number(1))])
        let new = JSON.object([("status", .string("active")), ("customer", .string("cus_1")), ("n", .number(2))])
        #expect(
            BillingState.previousAttributes(old, new)
                == .object([("status", .string("incomplete")), ("n", .number(1))]))
    }
}
