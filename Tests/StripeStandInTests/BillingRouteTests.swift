import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Checks the `/v1` routes of the billing loop against a real stand-in process: sessions kept in state,
/// customers, subscriptions and the billing portal.
@Suite struct BillingRouteTests {

    /// A created session is kept: retrieving it answers the same fields, `subscription` null, `expires_at` a day on.
    @Test func retrievesCreatedSession() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let created = try await client.apiObject(
            "POST", "v1/checkout/sessions", subscriptionForm + "&customer_email=ada%40example.com")
        let id = try #require(created["id"] as? String)
        #expect(created["subscription"] is NSNull)
        #expect((created["expires_at"] as? Int).map { $0 - (created["created"] as? Int ?? 0) } == 86_400)
        let fetched = try await client.apiObject("GET", "v1/checkout/sessions/\(id)")
        #expect(NSDictionary(dictionary: fetched) == NSDictionary(dictionary: created))
        #expect(fetched["customer_email"] as? String == "ada@example.com")
        #expect(fetched["client_reference_id"] as? String == "user_7")
        #expect(fetched["metadata"] as? [String: String] == ["user_id": "user_7"])
        #expect(fetched["mode"] as? String == "subscription")
        let expanded = try await client.apiObject("GET", "v1/checkout/sessions/\(id)", "expand[]=line_items")
        let items = try #require((expanded["line_items"] as? [String: Any])?["data"] as? [[String: Any]])
        #expect((items.first?["price"] as? [String: Any])?["id"] as? String == "price_standin_pro")
        #expect(items.first?["quantity"] as? Int == 1)
    }

    /// An unknown session is Stripe's 404 `resource_missing`.
    @Test func answersUnknownSessionWith404() async throws {
        let standIn = try await StandInProcess()
        let (data, response) = try await StandInClient(baseURL: standIn.baseURL).api(
            "GET", "v1/checkout/sessions/cs_test_nope")
        #expect(response.statusCode == 404)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["code"] as? String == "resource_missing")
        #expect(error["message"] as? String == "No such checkout.session: 'cs_test_nope'")
    }

    /// Expiring an open session answers it `expired` without a URL; expiring it again, or a completed one, is
    /// Stripe's 400 naming the status.
    @Test func expiresOnlyOpenSessions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let id = try await client.openSession()
        let expired = try await client.apiObject("POST", "v1/checkout/sessions/\(id)/expire")
        #expect(expired["status"] as? String == "expired")
        #expect(expired["url"] is NSNull)
        let (againData, again) = try await client.api("POST", "v1/checkout/sessions/\(id)/expire")
        #expect(again.statusCode == 400)
        let error = try #require(try StandInClient.object(againData)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(
            error["message"] as? String
                == "Only Checkout Sessions with a status in [\"open\"] can be expired. "
                + "This Checkout Session has a status of `expired`.")
        let (completed, _) = try await client.completedSession()
        let (doneData, done) = try await client.api("POST", "v1/checkout/sessions/\(completed)/expire")
        #expect(done.statusCode == 400)
        let doneError = try #require(try StandInClient.object(doneData)["error"] as? [String: Any])
        #expect((doneError["message"] as? String)?.hasSuffix("has a status of `complete`.") == true)
        let (_, unknown) = try await client.api("POST", "v1/checkout/sessions/cs_test_nope/expire")
        #expect(unknown.statusCode == 404)
        let events = try await client.controlList("_standin/events")
        #expect(events.map { $0["type"] as? String } == ["checkout.session.expired"] + completedTypes)
    }

    /// A customer id the stand-in does not know is adopted by default (so tokens may name any `cus_…`); with strict
    /// customers it is Stripe's 400; a known one always works.
    @Test func checksCustomersOfSessions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let base = subscriptionForm
        let (_, adopted) = try await client.api("POST", "v1/checkout/sessions", base + "&customer=cus_adopted")
        #expect(adopted.statusCode == 200)
        _ = try await client.apiObject("GET", "v1/customers/cus_adopted")
        let (code, switches) = try await client.control("_standin/settings", #"{"strictCustomers":true}"#)
        #expect(code == 200 && switches["strictCustomers"] as? Bool == true)
        let (data, refused) = try await client.api("POST", "v1/checkout/sessions", base + "&customer=cus_x")
        #expect(refused.statusCode == 400)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect(error["code"] as? String == "resource_missing")
        #expect(error["param"] as? String == "customer")
        #expect(error["message"] as? String == "No such customer: 'cus_x'")
        let customer = try await client.apiObject("POST", "v1/customers", "email=ada%40example.com")
        let id = try #require(customer["id"] as? String)
        let session = try await client.apiObject("POST", "v1/checkout/sessions", base + "&customer=\(id)")
        #expect(session["customer"] as? String == id)
    }

    /// The strict switch also comes from `STAND_IN_STRICT_CUSTOMERS=1`, and reset returns to it.
    @Test func readsStrictCustomersFromEnvironment() async throws {
        let standIn = try await StandInProcess(environment: ["STAND_IN_STRICT_CUSTOMERS": "1"])
        let client = StandInClient(baseURL: standIn.baseURL)
        _ = try await client.control("_standin/settings", #"{"strictCustomers":false}"#)
        _ = try await client.send("POST", "_standin/reset")
        let (_, refused) = try await client.api("POST", "v1/checkout/sessions", subscriptionForm + "&customer=cus_1")
        #expect(refused.statusCode == 400)
    }

    /// Customers are created with email and metadata and read back; unknown ones are a 404, bad emails a 400.
    @Test func createsAndRetrievesCustomers() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let created = try await client.apiObject(
            "POST", "v1/customers", "email=ada%40example.com&metadata[user_id]=user_7")
        let id = try #require(created["id"] as? String)
        #expect(id.hasPrefix("cus_"))
        #expect(created["object"] as? String == "customer")
        #expect(created["email"] as? String == "ada@example.com")
        #expect(created["metadata"] as? [String: String] == ["user_id": "user_7"])
        #expect(created["livemode"] as? Bool == false)
        #expect(created["created"] is Int)
        let fetched = try await client.apiObject("GET", "v1/customers/\(id)")
        #expect(NSDictionary(dictionary: fetched) == NSDictionary(dictionary: created))
        let (missingData, missing) = try await client.api("GET", "v1/customers/cus_nope")
        #expect(missing.statusCode == 404)
        let error = try #require(try StandInClient.object(missingData)["error"] as? [String: Any])
        #expect(error["message"] as? String == "No such customer: 'cus_nope'")
        let (_, badEmail) = try await client.api("POST", "v1/customers", "email=nope")
        #expect(badEmail.statusCode == 400)
        let (_, unknown) = try await client.api("POST", "v1/customers", "colour=red")
        #expect(unknown.statusCode == 400)
    }

    /// A subscription from a completed Checkout has the listed shape, its metadata from `subscription_data`.
    @Test func retrievesSubscriptions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (sessionID, _) = try await client.completedSession()
        let session = try await client.apiObject("GET", "v1/checkout/sessions/\(sessionID)")
        let id = try #require(session["subscription"] as? String)
        let subscription = try await client.apiObject("GET", "v1/subscriptions/\(id)")
        #expect(id.hasPrefix("sub_"))
        #expect(subscription["object"] as? String == "subscription")
        #expect(subscription["customer"] as? String == session["customer"] as? String)
        #expect(subscription["status"] as? String == "active")
        #expect(subscription["metadata"] as? [String: String] == ["user_id": "user_7"])
        #expect(subscription["cancel_at_period_end"] as? Bool == false)
        #expect(subscription["canceled_at"] is NSNull)
        #expect(subscription["trial_end"] is NSNull)
        let start = try #require(subscription["current_period_start"] as? Int)
        #expect(subscription["current_period_end"] as? Int == start + 30 * 86_400)
        let items = try #require(subscription["items"] as? [String: Any])
        #expect(items["object"] as? String == "list")
        let item = try #require((items["data"] as? [[String: Any]])?.first)
        #expect((item["id"] as? String)?.hasPrefix("si_") == true)
        #expect(item["object"] as? String == "subscription_item")
        #expect(item["quantity"] as? Int == 1)
        #expect(item["price"] as? [String: String] == ["id": "price_standin_pro", "object": "price"])
        let (missingData, missing) = try await client.api("GET", "v1/subscriptions/sub_nope")
        #expect(missing.statusCode == 404)
        let error = try #require(try StandInClient.object(missingData)["error"] as? [String: Any])
        #expect(error["message"] as? String == "No such subscription: 'sub_nope'")
    }

    /// Lists are newest first; without `status` canceled ones are left out, `status=all` has them; `limit` cuts
    /// with `has_more`.
    @Test func listsSubscriptions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let customer = try #require(
            try await client.apiObject("POST", "v1/customers", "email=ada%40example.com")["id"] as? String)
        var ids: [String] = []
        for _ in 0..<3 {
            let session = try await client.openSession("&customer=\(customer)")
            _ = try await client.control(
                "_standin/checkout/sessions/\(session)/complete", #"{"deliver":{"none":true}}"#)
            let completed = try await client.apiObject("GET", "v1/checkout/sessions/\(session)")
            ids.append(try #require(completed["subscription"] as? String))
            try await Task.sleep(for: .milliseconds(5))
        }
        _ = try await client.control("_standin/subscriptions/\(ids[0])/update", #"{"status":"canceled"}"#)
        let all = try await client.apiObject("GET", "v1/subscriptions", "customer=\(customer)&status=all&limit=10")
        #expect(all["object"] as? String == "list")
        #expect(all["url"] as? String == "/v1/subscriptions")
        #expect(all["has_more"] as? Bool == false)
        #expect((all["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ids.reversed())
        let current = try await client.apiObject("GET", "v1/subscriptions", "customer=\(customer)")
        #expect((current["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[2], ids[1]])
        let first = try await client.apiObject("GET", "v1/subscriptions", "customer=\(customer)&status=all&limit=1")
        #expect((first["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[2]])
        #expect(first["has_more"] as? Bool == true)
        let canceled = try await client.apiObject("GET", "v1/subscriptions", "status=canceled")
        #expect((canceled["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[0]])
        let other = try await client.apiObject("GET", "v1/subscriptions", "customer=cus_someoneelse&status=all")
        #expect((other["data"] as? [Any])?.isEmpty == true)
        let (_, badLimit) = try await client.api("GET", "v1/subscriptions", "limit=0")
        #expect(badLimit.statusCode == 400)
        let (_, badStatus) = try await client.api("GET", "v1/subscriptions", "status=happy")
        #expect(badStatus.statusCode == 400)
    }

    /// A portal session for a known customer has a `bps_` id and a billing.stripe.com URL; `customer` is required.
    @Test func createsPortalSessions() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let customer = try #require(
            try await client.apiObject("POST", "v1/customers", "email=a%40b.c")["id"] as? String)
        let portal = try await client.apiObject(
            "POST", "v1/billing_portal/sessions", "customer=\(customer)&return_url=https://app.example/dashboard")
        #expect((portal["id"] as? String)?.hasPrefix("bps_") == true)
        #expect(portal["object"] as? String == "billing_portal.session")
        #expect(portal["customer"] as? String == customer)
        #expect(portal["return_url"] as? String == "https://app.example/dashboard")
        #expect(portal["livemode"] as? Bool == false)
        let url = try #require(portal["url"] as? String)
        #expect(url.hasPrefix("https://billing.stripe.com/p/session/test_") && url.count > 45)
        let (missingData, missing) = try await client.api(
            "POST", "v1/billing_portal/sessions", "return_url=https://a.example")
        #expect(missing.statusCode == 400)
        let error = try #require(try StandInClient.object(missingData)["error"] as? [String: Any])
        #expect(error["code"] as? String == "parameter_missing")
        #expect(error["param"] as? String == "customer")
        _ = try await client.control("_standin/settings", #"{"strictCustomers":true}"#)
        let (_, unknown) = try await client.api("POST", "v1/billing_portal/sessions", "customer=cus_nobody")
        #expect(unknown.statusCode == 400)
        let (_, badURL) = try await client.api(
            "POST", "v1/billing_portal/sessions", "customer=\(customer)&return_url=nope")
        #expect(badURL.statusCode == 400)
    }

    /// With the portal switched off, a portal session is Stripe's "No configuration provided" 400, until it is
    /// switched back on (or reset).
    @Test func answersPortalNotConfigured() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let customer = try #require(
            try await client.apiObject("POST", "v1/customers", "email=a%40b.c")["id"] as? String)
        let (code, switches) = try await client.control("_standin/settings", #"{"portalConfigured":false}"#)
        #expect(code == 200 && switches["portalConfigured"] as? Bool == false)
        let (data, refused) = try await client.api("POST", "v1/billing_portal/sessions", "customer=\(customer)")
        #expect(refused.statusCode == 400)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(
            (error["message"] as? String)?.hasPrefix(
                "No configuration provided and your test mode default configuration has not been created.") == true)
        _ = try await client.control("_standin/settings", #"{"portalConfigured":true}"#)
        let (_, allowed) = try await client.api("POST", "v1/billing_portal/sessions", "customer=\(customer)")
        #expect(allowed.statusCode == 200)
        let off = try await StandInProcess(environment: ["STAND_IN_PORTAL_CONFIGURED": "0"])
        let offClient = StandInClient(baseURL: off.baseURL)
        let (_, offAnswer) = try await offClient.api("POST", "v1/billing_portal/sessions", "customer=cus_any")
        #expect(offAnswer.statusCode == 400)
    }

    /// Every `/v1` route checks the key like checkout does.
    @Test(arguments: [
        ("GET", "v1/checkout/sessions/cs_test_x"), ("POST", "v1/checkout/sessions/cs_test_x/expire"),
        ("POST", "v1/customers"), ("GET", "v1/customers/cus_x"), ("GET", "v1/subscriptions/sub_x"),
        ("GET", "v1/subscriptions"), ("POST", "v1/billing_portal/sessions"),
    ])
    func checksKeys(method: String, path: String) async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (missingData, missing) = try await client.api(method, path, authorization: nil)
        #expect(missing.statusCode == 401)
        let error = try #require(try StandInClient.object(missingData)["error"] as? [String: Any])
        #expect((error["message"] as? String)?.hasPrefix("You did not provide an API key.") == true)
        let (_, wrong) = try await client.api(method, path, authorization: "Bearer sk_test_wrongkey")
        #expect(wrong.statusCode == 401)
    }

    /// Every `/v1` request is recorded with method, path and params (a GET's query decoded).
    @Test func recordsEveryRequest() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        _ = try await client.api("POST", "v1/customers", "email=a%40b.c")
        _ = try await client.api("GET", "v1/subscriptions", "customer=cus_1&status=all&limit=3")
        _ = try await client.api("GET", "v1/charges", authorization: nil)
        let records = try await client.controlList("_standin/requests")
        #expect(records.map { $0["method"] as? String } == ["POST", "GET", "GET"])
        #expect(records.map { $0["path"] as? String } == ["/v1/customers", "/v1/subscriptions", "/v1/charges"])
        #expect(records[0]["params"] as? [[String]] == [["email", "a@b.c"]])
        #expect(records[1]["params"] as? [[String]] == [["customer", "cus_1"], ["status", "all"], ["limit", "3"]])
    }

    /// A key replays on every POST route, and a key first used on another route is an idempotency error.
    @Test func replaysKeysOnEveryPostRoute() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (first, _) = try await client.api("POST", "v1/customers", "email=a%40b.c", idempotencyKey: "k-1")
        let (second, replayed) = try await client.api("POST", "v1/customers", "email=a%40b.c", idempotencyKey: "k-1")
        #expect(first == second)
        #expect(replayed.value(forHTTPHeaderField: "Idempotent-Replayed") == "true")
        let (elsewhereData, elsewhere) = try await client.api(
            "POST", "v1/billing_portal/sessions", "email=a%40b.c", idempotencyKey: "k-1")
        #expect(elsewhere.statusCode == 400)
        let error = try #require(try StandInClient.object(elsewhereData)["error"] as? [String: Any])
        #expect(error["type"] as? String == "idempotency_error")
    }
}

/// The event types a completed subscription Checkout produces, in order.
let completedTypes = [
    "checkout.session.completed", "customer.subscription.created", "customer.subscription.updated", "invoice.paid",
]
