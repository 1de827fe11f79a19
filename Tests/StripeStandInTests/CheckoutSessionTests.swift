import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Checks the Stripe-like behaviour of `POST /v1/checkout/sessions` against a real stand-in process.
@Suite struct CheckoutSessionTests {

    /// A valid request returns a session whose fields echo the form, with a matching checkout URL.
    @Test func createsSession() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (data, response) = try await client.createSession(validForm)
        #expect(response.statusCode == 200)
        #expect(response.value(forHTTPHeaderField: "Request-Id")?.hasPrefix("req_") == true)
        let session = try StandInClient.object(data)
        let id = try #require(session["id"] as? String)
        #expect(id.hasPrefix("cs_test_"))
        #expect(session["url"] as? String == "https://checkout.stripe.com/c/pay/\(id)")
        #expect(session["object"] as? String == "checkout.session")
        #expect(session["mode"] as? String == "payment")
        #expect(session["success_url"] as? String == "https://example.com/ok?session={CHECKOUT_SESSION_ID}")
        #expect(session["cancel_url"] as? String == "https://example.com/cancel")
        #expect(session["client_reference_id"] as? String == "ref_1")
        #expect(session["customer"] is NSNull)
        #expect(session["metadata"] as? [String: String] == ["user_id": "user 42"])
        #expect(session["livemode"] as? Bool == false)
        #expect(session["status"] as? String == "open")
    }

    /// Missing or wrong keys get Stripe's 401 with the key masked to its last four characters.
    @Test func rejectsBadKeys() async throws {
        let standIn = try await StandInProcess(environment: ["STAND_IN_SECRET_KEY": "sk_test_custom"])
        let client = StandInClient(baseURL: standIn.baseURL)
        let (wrongData, wrong) = try await client.createSession(validForm, authorization: "Bearer sk_test_standin")
        #expect(wrong.statusCode == 401)
        #expect(wrong.value(forHTTPHeaderField: "Request-Id")?.hasPrefix("req_") == true)
        let error = try #require(try StandInClient.object(wrongData)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["message"] as? String == "Invalid API Key provided: sk_test_***ndin")
        #expect(error["code"] is NSNull)
        let (_, missing) = try await client.createSession(validForm, authorization: nil)
        #expect(missing.statusCode == 401)
        let (_, good) = try await client.createSession(validForm, authorization: "Bearer sk_test_custom")
        #expect(good.statusCode == 200)
    }

    /// Each invalid form yields a 400 with Stripe's code and param.
    @Test(arguments: [
        (
            "line_items[0][price]=price_standin_basic&line_items[0][quantity]=1&success_url=https://a.example",
            "parameter_missing", "mode"
        ),
        (
            "mode=&line_items[0][price]=price_standin_basic&line_items[0][quantity]=1&success_url=https://a.example",
            "parameter_invalid_empty", "mode"
        ),
        (
            "mode=rent&line_items[0][price]=price_standin_basic&line_items[0][quantity]=1&success_url=https://a.example",
            "parameter_invalid", "mode"
        ),
        (
            "mode=payment&line_items[0][price]=price_nope&line_items[0][quantity]=1&success_url=https://a.example",
            "resource_missing", "line_items[0][price]"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=0&success_url=https://a.example",
            "parameter_invalid_integer", "line_items[0][quantity]"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1", "parameter_missing",
            "success_url"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=ftp://a.example",
            "url_invalid", "success_url"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=https://a.example&cancel_url=nope",
            "url_invalid", "cancel_url"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=https://a.example&customer=cus_1&customer_email=a%40b.c",
            "parameter_invalid", "customer"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=https://a.example&customer=bob",
            "resource_missing", "customer"
        ),
        (
            "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=https://a.example&colour=red",
            "parameter_unknown", "colour"
        ),
    ])
    func rejectsInvalidParameters(form: String, code: String, param: String) async throws {
        let standIn = try await StandInProcess()
        let (data, response) = try await StandInClient(baseURL: standIn.baseURL).createSession(form)
        #expect(response.statusCode == 400)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["code"] as? String == code)
        #expect(error["param"] as? String == param)
    }

    /// Stripe's exact messages for unknown prices, customers and the customer/email conflict.
    @Test func usesStripeMessages() async throws {
        let standIn = try await StandInProcess(environment: ["STAND_IN_PRICES": "price_a,price_b"])
        let client = StandInClient(baseURL: standIn.baseURL)
        let base = "mode=subscription&line_items[0][quantity]=1&success_url=https://a.example"
        let cases = [
            ("\(base)&line_items[0][price]=price_standin_basic", "No such price: 'price_standin_basic'"),
            ("\(base)&line_items[0][price]=price_b&customer=zz", "No such customer: 'zz'"),
            (
                "\(base)&line_items[0][price]=price_b&customer=cus_1&customer_email=a%40b.c",
                "You may only specify one of these parameters: customer, customer_email."
            ),
            ("\(base)&line_items[0][price]=price_b&bogus=1", "Received unknown parameter: bogus"),
        ]
        for (form, message) in cases {
            let (data, _) = try await client.createSession(form)
            let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
            #expect(error["message"] as? String == message)
        }
        let (_, ok) = try await client.createSession("\(base)&line_items[0][price]=price_a&customer=cus_9")
        #expect(ok.statusCode == 200)
    }

    /// A success_url longer than 5000 characters is rejected as `url_invalid`.
    @Test func rejectsLongURL() async throws {
        let standIn = try await StandInProcess()
        let long = "https://a.example/" + String(repeating: "x", count: 5000)
        let form = "mode=payment&line_items[0][price]=price_standin_pro&line_items[0][quantity]=1&success_url=\(long)"
        let (data, response) = try await StandInClient(baseURL: standIn.baseURL).createSession(form)
        #expect(response.statusCode == 400)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect(error["code"] as? String == "url_invalid")
    }

    /// Same key and parameters replay the stored response; different parameters are an idempotency error.
    @Test func replaysIdempotentRequests() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (first, firstResponse) = try await client.createSession(validForm, idempotencyKey: "key-1")
        let (second, secondResponse) = try await client.createSession(validForm, idempotencyKey: "key-1")
        #expect(first == second)
        #expect(firstResponse.value(forHTTPHeaderField: "Idempotent-Replayed") == nil)
        #expect(secondResponse.value(forHTTPHeaderField: "Idempotent-Replayed") == "true")
        let (conflict, conflictResponse) = try await client.createSession(
            validForm + "&locale=fr", idempotencyKey: "key-1")
        #expect(conflictResponse.statusCode == 400)
        let error = try #require(try StandInClient.object(conflict)["error"] as? [String: Any])
        #expect(error["type"] as? String == "idempotency_error")
        #expect(
            (error["message"] as? String)?.hasPrefix(
                "Keys for idempotent requests can only be used with the same parameters they were first used with.")
                == true)
    }

    /// Injected 5xx answers are not stored, so a retry with the same key runs for real.
    @Test func doesNotStoreFailures() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"status","status":500}"#)
        let (_, failed) = try await client.createSession(validForm, idempotencyKey: "key-2")
        #expect(failed.statusCode == 500)
        let (_, retried) = try await client.createSession(validForm, idempotencyKey: "key-2")
        #expect(retried.statusCode == 200)
        #expect(retried.value(forHTTPHeaderField: "Idempotent-Replayed") == nil)
    }

    /// Unknown paths get a Stripe-style 404.
    @Test func answersUnknownPathsWith404() async throws {
        let standIn = try await StandInProcess()
        let (data, response) = try await StandInClient(baseURL: standIn.baseURL).send("GET", "v1/customers")
        #expect(response.statusCode == 404)
        let error = try #require(try StandInClient.object(data)["error"] as? [String: Any])
        #expect((error["message"] as? String)?.hasPrefix("Unrecognized request URL (GET: /v1/customers)") == true)
    }

    /// The process prints exactly the listening line and exits cleanly on SIGTERM.
    @Test func stopsOnSIGTERM() async throws {
        let standIn = try await StandInProcess()
        #expect(standIn.listeningLine == "listening on 127.0.0.1:\(standIn.baseURL.port!)")
        standIn.stop()
        #expect(standIn.process.terminationStatus == 0)
    }
}
