import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Checks the controls that play Stripe's side of the billing loop, the events they produce and their delivery.
/// Deliveries go to a second stand-in's `/_standin/inbox`.
@Suite struct WebhookTests {

    /// The default signing secret.
    static let secret = "whsec_standin_test_secret"

    /// Completing a Checkout creates the customer and the subscription and produces Stripe's four events in order,
    /// each a snapshot: the subscription `incomplete` when created, then `active`.
    @Test func completesCheckout() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (sessionID, answer) = try await client.completedSession()
        let events = try producedEvents(answer)
        #expect(events.map { $0["type"] as? String } == completedTypes)
        let session = try eventObject(events[0])
        #expect(session["id"] as? String == sessionID)
        #expect(session["status"] as? String == "complete")
        #expect(session["payment_status"] as? String == "paid")
        let customerID = try #require(session["customer"] as? String)
        let subscriptionID = try #require(session["subscription"] as? String)
        let created = try eventObject(events[1])
        #expect(created["id"] as? String == subscriptionID)
        #expect(created["status"] as? String == "incomplete")
        let updated = try eventObject(events[2])
        #expect(updated["status"] as? String == "active")
        #expect(updated["metadata"] as? [String: String] == ["user_id": "user_7"])
        let updatedBody = try StandInClient.object(Data(try #require(events[2]["body"] as? String).utf8))
        #expect(
            (updatedBody["data"] as? [String: Any])?["previous_attributes"] as? [String: String] == [
                "status": "incomplete"
            ])
        let invoice = try eventObject(events[3])
        #expect((invoice["id"] as? String)?.hasPrefix("in_") == true)
        #expect(invoice["object"] as? String == "invoice")
        #expect(invoice["customer"] as? String == customerID)
        #expect(invoice["subscription"] as? String == subscriptionID)
        #expect(invoice["status"] as? String == "paid")
        let customer = try await client.apiObject("GET", "v1/customers/\(customerID)")
        #expect(customer["email"] as? String == "ada@example.com")
        #expect(customer["metadata"] as? [String: String] == ["user_id": "user_7"])
        let stored = try await client.apiObject("GET", "v1/checkout/sessions/\(sessionID)")
        #expect(stored["status"] as? String == "complete")
        #expect(stored["url"] is NSNull)
        let subscription = try await client.apiObject("GET", "v1/subscriptions/\(subscriptionID)")
        #expect(subscription["status"] as? String == "active")
        let (again, _) = try await client.control("_standin/checkout/sessions/\(sessionID)/complete")
        #expect(again == 400)
    }

    /// Every event has Stripe's envelope, and its body is one serialization: the same bytes in every answer.
    @Test func rendersEventEnvelopes() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, answer) = try await client.completedSession()
        let stored = try await client.controlList("_standin/events")
        for (event, kept) in zip(try producedEvents(answer), stored) {
            let body = try #require(event["body"] as? String)
            #expect(kept["body"] as? String == body)
            let envelope = try StandInClient.object(Data(body.utf8))
            #expect((envelope["id"] as? String)?.hasPrefix("evt_") == true)
            #expect(envelope["id"] as? String == event["id"] as? String)
            #expect(envelope["object"] as? String == "event")
            #expect(envelope["api_version"] as? String == "2024-06-20")
            #expect(envelope["created"] is Int)
            #expect(envelope["type"] as? String == event["type"] as? String)
            #expect(envelope["livemode"] as? Bool == false)
            #expect(envelope["pending_webhooks"] as? Int == 1)
            let request = try #require(envelope["request"] as? [String: Any])
            #expect(request["id"] is NSNull && request["idempotency_key"] is NSNull)
        }
    }

    /// `trialing` sets `trial_end` (the session's trial days, else 30) and pays nothing; `incomplete` stops after
    /// `customer.subscription.created`.
    @Test func completesWithOtherStatuses() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, trial) = try await client.completedSession(status: "trialing")
        let trialEvents = try producedEvents(trial)
        #expect(trialEvents.map { $0["type"] as? String } == completedTypes)
        let trialing = try eventObject(trialEvents[2])
        #expect(trialing["status"] as? String == "trialing")
        let start = try #require(trialing["current_period_start"] as? Int)
        #expect(trialing["trial_end"] as? Int == start + 30 * 86_400)
        #expect(try eventObject(trialEvents[0])["payment_status"] as? String == "no_payment_required")
        let sevenDays = try await client.openSession("&customer_email=a%40b.c&subscription_data[trial_period_days]=7")
        let (_, week) = try await client.control(
            "_standin/checkout/sessions/\(sevenDays)/complete", #"{"subscription_status":"trialing"}"#)
        let weekTrial = try eventObject(try producedEvents(week)[2])
        #expect(weekTrial["trial_end"] as? Int == (weekTrial["current_period_start"] as? Int ?? 0) + 7 * 86_400)
        let (_, incomplete) = try await client.completedSession(status: "incomplete")
        let incompleteEvents = try producedEvents(incomplete)
        #expect(
            incompleteEvents.map { $0["type"] as? String } == [
                "checkout.session.completed", "customer.subscription.created",
            ])
        let subscriptionID = try #require(try eventObject(incompleteEvents[1])["id"] as? String)
        let subscription = try await client.apiObject("GET", "v1/subscriptions/\(subscriptionID)")
        #expect(subscription["status"] as? String == "incomplete")
        let (bad, _) = try await client.control(
            "_standin/checkout/sessions/\(try await client.openSession())/complete", #"{"subscription_status":"gold"}"#)
        #expect(bad == 400)
    }

    /// A session that already names a customer keeps it; no customer is created.
    @Test func completesWithExistingCustomer() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let customer = try #require(
            try await client.apiObject("POST", "v1/customers", "email=a%40b.c")["id"] as? String)
        let session = try await client.openSession("&customer=\(customer)")
        let (_, answer) = try await client.control("_standin/checkout/sessions/\(session)/complete")
        let subscription = try eventObject(try producedEvents(answer)[2])
        #expect(subscription["customer"] as? String == customer)
    }

    /// Every signature verifies with an HMAC computed by openssl over `t.body` with the whole secret; a configured
    /// secret is used; `badSignature` does not verify with it.
    @Test func signsLikeStripe() async throws {
        let secret = "whsec_custom_\(UUID().uuidString)"
        let standIn = try await StandInProcess(environment: ["STAND_IN_WEBHOOK_SECRET": secret])
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, answer) = try await client.completedSession()
        let now = Int(Date().timeIntervalSince1970)
        for event in try producedEvents(answer) {
            let signature = try #require(event["signature"] as? String)
            let body = Data(try #require(event["body"] as? String).utf8)
            let (timestamp, v1) = IndependentSignature.parse(signature)
            #expect(abs((timestamp ?? 0) - now) < 60)
            #expect(v1.count == 1 && v1[0].count == 64)
            #expect(try IndependentSignature.verifies(signature, body: body, secret: secret))
            #expect(try !IndependentSignature.verifies(signature, body: body, secret: Self.secret))
        }
        let (_, bad) = try await client.completedSession(deliver: #"{"badSignature":true}"#)
        for event in try producedEvents(bad) {
            let signature = try #require(event["signature"] as? String)
            let body = Data(try #require(event["body"] as? String).utf8)
            #expect(try !IndependentSignature.verifies(signature, body: body, secret: secret))
        }
        for delivery in try plannedDeliveries(bad) {
            let signature = try #require(delivery["signature"] as? String)
            let event = try #require(
                try producedEvents(bad).first { $0["id"] as? String == delivery["event"] as? String })
            let body = Data(try #require(event["body"] as? String).utf8)
            #expect(try !IndependentSignature.verifies(signature, body: body, secret: secret))
        }
    }

    /// The secret and URL can be set and read at run time; reset returns to the environment's.
    @Test func configuresWebhook() async throws {
        let standIn = try await StandInProcess(environment: ["STAND_IN_WEBHOOK_URL": "http://127.0.0.1:9/hook"])
        let client = StandInClient(baseURL: standIn.baseURL)
        let (initial, _) = try await client.send("GET", "_standin/webhook")
        let start = try StandInClient.object(initial)
        #expect(start["url"] as? String == "http://127.0.0.1:9/hook")
        #expect(start["secret"] as? String == Self.secret)
        let (code, set) = try await client.control(
            "_standin/webhook", #"{"url":"http://127.0.0.1:10/other","secret":"whsec_new"}"#)
        #expect(code == 200)
        #expect(set["url"] as? String == "http://127.0.0.1:10/other")
        #expect(set["secret"] as? String == "whsec_new")
        let (cleared, off) = try await client.control("_standin/webhook", #"{"url":null}"#)
        #expect(cleared == 200 && off["url"] is NSNull && off["secret"] as? String == "whsec_new")
        let (bad, _) = try await client.control("_standin/webhook", #"{"url":"ftp://x"}"#)
        #expect(bad == 400)
        let (typo, _) = try await client.control("_standin/webhook", #"{"uri":"http://x.example"}"#)
        #expect(typo == 400)
        _ = try await client.send("POST", "_standin/reset")
        let (afterReset, _) = try await client.send("GET", "_standin/webhook")
        #expect(try StandInClient.object(afterReset)["url"] as? String == "http://127.0.0.1:9/hook")
    }

    /// With a URL set, each event is POSTed once with Stripe's headers, its exact bytes and a signature that
    /// verifies; each delivery's status is answered and recorded.
    @Test func deliversEvents() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess(environment: [
            "STAND_IN_WEBHOOK_URL": receiver.baseURL.absoluteString + "/_standin/inbox"
        ])
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, answer) = try await client.completedSession(deliver: "{}")
        let events = try producedEvents(answer)
        let deliveries = try plannedDeliveries(answer)
        #expect(deliveries.map { $0["event"] as? String } == events.map { $0["id"] as? String })
        #expect(deliveries.allSatisfy { $0["delivered"] as? Bool == true && $0["status"] as? Int == 200 })
        let received = try await StandInClient(baseURL: receiver.baseURL).controlList("_standin/inbox")
        #expect(received.count == 4)
        for (request, event) in zip(received, events) {
            let headers = try #require(request["headers"] as? [String: String])
            #expect(headers["content-type"] == "application/json; charset=utf-8")
            #expect(headers["user-agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            let body = try #require(request["body"] as? String)
            #expect(body == event["body"] as? String)
            let signature = try #require(headers["stripe-signature"])
            #expect(try IndependentSignature.verifies(signature, body: Data(body.utf8), secret: Self.secret))
        }
        let recorded = try await client.controlList("_standin/deliveries")
        #expect(recorded.map { $0["event"] as? String } == events.map { $0["id"] as? String })
        #expect(recorded.allSatisfy { $0["status"] as? Int == 200 })
        #expect(recorded.allSatisfy { ($0["url"] as? String)?.hasSuffix("/_standin/inbox") == true })
    }

    /// `duplicate` delivers each event twice in a row, `reverse` last first, and the answer's deliveries say so.
    @Test func duplicatesAndReverses() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        _ = try await client.control(
            "_standin/webhook", #"{"url":"\#(receiver.baseURL.absoluteString)/_standin/inbox"}"#)
        let (_, answer) = try await client.completedSession(deliver: #"{"duplicate":true,"reverse":true}"#)
        let ids = try producedEvents(answer).map { try #require($0["id"] as? String) }
        let expected = ids.reversed().flatMap { [$0, $0] }
        #expect(try plannedDeliveries(answer).map { $0["event"] as? String } == expected)
        let received = try await StandInClient(baseURL: receiver.baseURL).controlList("_standin/inbox")
        let receivedIDs = try received.map { request in
            try StandInClient.object(Data(try #require(request["body"] as? String).utf8))["id"] as? String
        }
        #expect(receivedIDs == expected)
        let (_, reversedOnly) = try await client.completedSession(deliver: #"{"reverse":true,"none":true}"#)
        let reversedIDs = try producedEvents(reversedOnly).map { $0["id"] as? String }
        #expect(try plannedDeliveries(reversedOnly).map { $0["event"] as? String } == reversedIDs.reversed())
    }

    /// `badSignature` deliveries carry a `v1` that does not verify with the secret; the body is unchanged.
    @Test func deliversBadSignatures() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess(environment: [
            "STAND_IN_WEBHOOK_URL": receiver.baseURL.absoluteString + "/_standin/inbox"
        ])
        let client = StandInClient(baseURL: standIn.baseURL)
        let session = try await client.openSession()
        let (_, answer) = try await client.control(
            "_standin/checkout/sessions/\(session)/expire", #"{"deliver":{"badSignature":true}}"#)
        #expect(try producedEvents(answer).map { $0["type"] as? String } == ["checkout.session.expired"])
        let received = try #require(
            try await StandInClient(baseURL: receiver.baseURL).controlList("_standin/inbox").first)
        let headers = try #require(received["headers"] as? [String: String])
        let body = Data(try #require(received["body"] as? String).utf8)
        #expect(
            try !IndependentSignature.verifies(
                try #require(headers["stripe-signature"]), body: body, secret: Self.secret))
    }

    /// `none` delivers nothing even with a URL set; without a URL nothing is delivered either, and the answer still
    /// lists every event with a signature a test can deliver itself.
    @Test func producesWithoutDelivering() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess(environment: [
            "STAND_IN_WEBHOOK_URL": receiver.baseURL.absoluteString + "/_standin/inbox"
        ])
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, answer) = try await client.completedSession(deliver: #"{"none":true}"#)
        #expect(
            try plannedDeliveries(answer).allSatisfy { $0["delivered"] as? Bool == false && $0["status"] is NSNull })
        #expect(try await StandInClient(baseURL: receiver.baseURL).controlList("_standin/inbox").isEmpty)
        #expect(try await client.controlList("_standin/deliveries").isEmpty)
        let unset = try await StandInProcess()
        let (_, quiet) = try await StandInClient(baseURL: unset.baseURL).completedSession(deliver: "{}")
        #expect(try plannedDeliveries(quiet).count == 4)
        #expect(try plannedDeliveries(quiet).allSatisfy { $0["delivered"] as? Bool == false })
        for delivery in try plannedDeliveries(quiet) {
            let event = try #require(
                try producedEvents(quiet).first { $0["id"] as? String == delivery["event"] as? String })
            let body = Data(try #require(event["body"] as? String).utf8)
            #expect(
                try IndependentSignature.verifies(
                    try #require(delivery["signature"] as? String), body: body, secret: Self.secret))
        }
    }

    /// `delayMs` waits before each delivery.
    @Test func delaysDeliveries() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess(environment: [
            "STAND_IN_WEBHOOK_URL": receiver.baseURL.absoluteString + "/_standin/inbox"
        ])
        let client = StandInClient(baseURL: standIn.baseURL)
        let started = Date()
        let (_, answer) = try await client.completedSession(deliver: #"{"delayMs":300}"#)
        #expect(Date().timeIntervalSince(started) >= 1.2)
        #expect(try plannedDeliveries(answer).count == 4)
        let (bad, _) = try await client.control(
            "_standin/checkout/sessions/\(try await client.openSession())/complete", #"{"deliver":{"delay":5}}"#)
        #expect(bad == 400)
    }

    /// A receiver's 5xx, a redirect (not followed) and a refused connection are recorded as such; the event can be
    /// delivered again later, freshly signed.
    @Test func recordsFailedDeliveriesAndRedelivers() async throws {
        let receiver = try await StandInProcess()
        let inbox = receiver.baseURL.absoluteString + "/_standin/inbox"
        let standIn = try await StandInProcess(environment: ["STAND_IN_WEBHOOK_URL": inbox + "?status=500"])
        let client = StandInClient(baseURL: standIn.baseURL)
        let session = try await client.openSession()
        let (_, answer) = try await client.control("_standin/checkout/sessions/\(session)/expire")
        let delivery = try #require(try plannedDeliveries(answer).first)
        #expect(delivery["status"] as? Int == 500)
        let eventID = try #require(delivery["event"] as? String)
        _ = try await client.control(
            "_standin/webhook", #"{"url":"\#(inbox)?status=302&location=http://127.0.0.1:9/"}"#)
        let (_, redirected) = try await client.control("_standin/events/\(eventID)/deliver")
        #expect(try plannedDeliveries(redirected).first?["status"] as? Int == 302)
        _ = try await client.control("_standin/webhook", #"{"url":"http://127.0.0.1:9/closed"}"#)
        let (_, refused) = try await client.control("_standin/events/\(eventID)/deliver")
        let refusedDelivery = try #require(try plannedDeliveries(refused).first)
        #expect(refusedDelivery["status"] is NSNull)
        #expect((refusedDelivery["error"] as? String)?.isEmpty == false)
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await client.control("_standin/webhook", #"{"url":"\#(inbox)"}"#)
        let (_, again) = try await client.control("_standin/events/\(eventID)/deliver")
        let redelivered = try #require(try plannedDeliveries(again).first)
        #expect(redelivered["status"] as? Int == 200)
        let first = IndependentSignature.parse(try #require(delivery["signature"] as? String)).timestamp ?? 0
        let later = IndependentSignature.parse(try #require(redelivered["signature"] as? String)).timestamp ?? 0
        #expect(later > first)
        let recorded = try await client.controlList("_standin/deliveries")
        #expect(recorded.map { $0["status"] as? Int } == [500, 302, nil, 200])
        #expect(recorded.allSatisfy { $0["event"] as? String == eventID })
        let received = try await StandInClient(baseURL: receiver.baseURL).controlList("_standin/inbox")
        #expect(Set(received.map { $0["body"] as? String }).count == 1)
        let (missing, _) = try await client.control("_standin/events/evt_nope/deliver")
        #expect(missing == 404)
    }

    /// The expire control answers `checkout.session.expired` with the expired session; only open sessions expire.
    @Test func expiresByControl() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let session = try await client.openSession()
        let (code, answer) = try await client.control("_standin/checkout/sessions/\(session)/expire")
        #expect(code == 200)
        let event = try #require(try producedEvents(answer).first)
        #expect(event["type"] as? String == "checkout.session.expired")
        #expect(try eventObject(event)["status"] as? String == "expired")
        let stored = try await client.apiObject("GET", "v1/checkout/sessions/\(session)")
        #expect(stored["status"] as? String == "expired")
        let (again, _) = try await client.control("_standin/checkout/sessions/\(session)/expire")
        #expect(again == 400)
        let (unknown, _) = try await client.control("_standin/checkout/sessions/cs_test_nope/expire")
        #expect(unknown == 404)
    }

    /// Expiring through the API produces the event too, naming the request, and delivers it in the background.
    @Test func deliversEventsOfAPIExpiry() async throws {
        let receiver = try await StandInProcess()
        let standIn = try await StandInProcess(environment: [
            "STAND_IN_WEBHOOK_URL": receiver.baseURL.absoluteString + "/_standin/inbox"
        ])
        let client = StandInClient(baseURL: standIn.baseURL)
        let session = try await client.openSession()
        let (_, response) = try await client.api(
            "POST", "v1/checkout/sessions/\(session)/expire", idempotencyKey: "exp-1")
        let requestID = try #require(response.value(forHTTPHeaderField: "Request-Id"))
        let receiverClient = StandInClient(baseURL: receiver.baseURL)
        var received: [[String: Any]] = []
        for _ in 0..<50 where received.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            received = try await receiverClient.controlList("_standin/inbox")
        }
        let body = try StandInClient.object(Data(try #require(received.first?["body"] as? String).utf8))
        #expect(body["type"] as? String == "checkout.session.expired")
        let request = try #require(body["request"] as? [String: Any])
        #expect(request["id"] as? String == requestID)
        #expect(request["idempotency_key"] as? String == "exp-1")
    }

    /// `past_due` produces `invoice.payment_failed` then `customer.subscription.updated`; `canceled` produces
    /// `customer.subscription.deleted` with `canceled_at`; after that the subscription can no longer change.
    @Test func updatesSubscriptions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, completed) = try await client.completedSession()
        let id = try #require(try eventObject(try producedEvents(completed)[1])["id"] as? String)
        let (_, pastDue) = try await client.control("_standin/subscriptions/\(id)/update", #"{"status":"past_due"}"#)
        let pastDueEvents = try producedEvents(pastDue)
        #expect(
            pastDueEvents.map { $0["type"] as? String } == ["invoice.payment_failed", "customer.subscription.updated"])
        let failed = try eventObject(pastDueEvents[0])
        #expect(failed["subscription"] as? String == id)
        #expect(failed["status"] as? String == "open")
        #expect(try eventObject(pastDueEvents[1])["status"] as? String == "past_due")
        let (_, renewed) = try await client.control(
            "_standin/subscriptions/\(id)/update",
            #"{"status":"active","cancel_at_period_end":true,"price":"price_standin_basic"}"#)
        let renewedEvent = try #require(try producedEvents(renewed).first)
        #expect(try producedEvents(renewed).count == 1)
        let snapshot = try eventObject(renewedEvent)
        #expect(snapshot["status"] as? String == "active")
        #expect(snapshot["cancel_at_period_end"] as? Bool == true)
        #expect(snapshot["canceled_at"] is Int)
        let item = try #require(((snapshot["items"] as? [String: Any])?["data"] as? [[String: Any]])?.first)
        #expect((item["price"] as? [String: Any])?["id"] as? String == "price_standin_basic")
        let (_, canceled) = try await client.control("_standin/subscriptions/\(id)/update", #"{"status":"canceled"}"#)
        let deleted = try #require(try producedEvents(canceled).first)
        #expect(deleted["type"] as? String == "customer.subscription.deleted")
        #expect(try eventObject(deleted)["canceled_at"] is Int)
        let stored = try await client.apiObject("GET", "v1/subscriptions/\(id)")
        #expect(stored["status"] as? String == "canceled")
        let (afterCancel, _) = try await client.control(
            "_standin/subscriptions/\(id)/update", #"{"status":"active"}"#)
        #expect(afterCancel == 400)
        let (unknown, _) = try await client.control("_standin/subscriptions/sub_nope/update", #"{"status":"active"}"#)
        #expect(unknown == 404)
    }

    /// Pausing produces `updated` then `paused`, resuming `updated` then `resumed`; bad values are refused.
    @Test func pausesAndResumes() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, completed) = try await client.completedSession()
        let id = try #require(try eventObject(try producedEvents(completed)[1])["id"] as? String)
        let (_, paused) = try await client.control("_standin/subscriptions/\(id)/update", #"{"status":"paused"}"#)
        #expect(
            try producedEvents(paused).map { $0["type"] as? String } == [
                "customer.subscription.updated", "customer.subscription.paused",
            ])
        let (_, resumed) = try await client.control("_standin/subscriptions/\(id)/update", #"{"status":"active"}"#)
        #expect(
            try producedEvents(resumed).map { $0["type"] as? String } == [
                "customer.subscription.updated", "customer.subscription.resumed",
            ])
        let (badStatus, _) = try await client.control("_standin/subscriptions/\(id)/update", #"{"status":"gold"}"#)
        #expect(badStatus == 400)
        let (badPrice, _) = try await client.control("_standin/subscriptions/\(id)/update", #"{"price":"price_nope"}"#)
        #expect(badPrice == 400)
        let (badType, _) = try await client.control(
            "_standin/subscriptions/\(id)/update", #"{"cancel_at_period_end":"yes"}"#)
        #expect(badType == 400)
    }
}
