import Testing

@testable import Billing

/// `EventPlan.plan(for:)`: what each event means for the state, from the event alone.
@Suite struct EventPlanTests {
    static func event(_ type: String, _ object: String) -> WebhookEvent? {
        WebhookEvent(
            body: Array(
                #"{"id":"evt_1","object":"event","type":"\#(type)","data":{"object":\#(object)}}"#.utf8))
    }

    static let completed =
        #"{"id":"cs_test_1","object":"checkout.session","mode":"subscription","client_reference_id":"user_1","customer":"cus_1","subscription":"sub_1","metadata":{"user_id":"other"}}"#

    @Test(
        "each event type's plan",
        arguments: [
            (
                "checkout.session.completed", completed,
                EventPlan.checkoutCompleted(
                    sessionID: "cs_test_1", userID: "user_1", customerID: "cus_1", subscriptionID: "sub_1")
            ),
            (
                "checkout.session.completed",
                #"{"id":"cs_2","object":"checkout.session","mode":"subscription","client_reference_id":null,"customer":{"id":"cus_2"},"subscription":"sub_2","metadata":{"user_id":"user_m"}}"#,
                .checkoutCompleted(sessionID: "cs_2", userID: "user_m", customerID: "cus_2", subscriptionID: "sub_2")
            ),
            ("checkout.session.completed", #"{"id":"cs_3","object":"checkout.session","mode":"payment"}"#, .ignore),
            ("checkout.session.expired", #"{"id":"cs_4","object":"checkout.session"}"#, .checkoutExpired(sessionID: "cs_4")),
            ("customer.subscription.created", #"{"id":"sub_1","status":"incomplete"}"#, .subscriptionChanged(subscriptionID: "sub_1")),
            ("customer.subscription.updated", #"{"id":"sub_1"}"#, .subscriptionChanged(subscriptionID: "sub_1")),
            ("customer.subscription.deleted", #"{"id":"sub_1"}"#, .subscriptionChanged(subscriptionID: "sub_1")),
            ("customer.subscription.paused", #"{"id":"sub_1"}"#, .subscriptionChanged(subscriptionID: "sub_1")),
            ("customer.subscription.resumed", #"{"id":"sub_1"}"#, .subscriptionChanged(subscriptionID: "sub_1")),
            ("invoice.paid", #"{"id":"in_1","subscription":"sub_9"}"#, .subscriptionChanged(subscriptionID: "sub_9")),
            (
                "invoice.payment_failed", #"{"id":"in_1","parent":{"subscription_details":{"subscription":"sub_8"}}}"#,
                .subscriptionChanged(subscriptionID: "sub_8")
            ),
            ("invoice.paid", #"{"id":"in_1","subscription":null}"#, .ignore),
            ("customer.subscription.updated", #"{"id":"not a sub"}"#, .ignore),
            ("customer.created", #"{"id":"cus_1"}"#, .ignore),
            ("payment_intent.succeeded", #"{"id":"pi_1"}"#, .ignore),
        ] as [(String, String, EventPlan)])
    func plans(type: String, object: String, expected: EventPlan) throws {
        let event = try #require(Self.event(type, object))
        #expect(EventPlan.plan(for: event) == expected)
    }

    @Test(
        "bodies that are not a Stripe event",
        arguments: [
            "", "[]", #"{"id":"evt_1","object":"event","type":"x"}"#,
            #"{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}"#,
            #"{"id":"ev_1","object":"event","type":"invoice.paid","data":{"object":{}}}"#,
            #"{"id":"evt_1","object":"event","type":"Invoice Paid","data":{"object":{}}}"#,
            #"{"id":"evt_1","object":"event","type":1,"data":{"object":{}}}"#,
        ])
    func notEvents(body: String) {
        #expect(WebhookEvent(body: Array(body.utf8)) == nil)
    }

    @Test("a subscription object is read with totals only: odd numbers become nil, never a trap")
    func subscriptionNumbers() throws {
        let value = try PythonJSON.parse(
            Array(
                #"{"id":"sub_1","object":"subscription","status":"active","customer":"cus_1","current_period_end":1e400,"created":99999999999999999999,"cancel_at_period_end":true,"items":{"data":[{"price":{"id":"price_pro"},"current_period_end":1800000000}]},"metadata":{"user_id":"user_1"}}"#
                    .utf8))
        let subscription = try #require(StripeObjects.subscription(value))
        #expect(subscription.currentPeriodEnd == 1_800_000_000)
        #expect(subscription.created == nil)
        #expect(subscription.priceID == "price_pro")
        #expect(subscription.cancelAtPeriodEnd)
        #expect(subscription.userID == "user_1")
    }
}
