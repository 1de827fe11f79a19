import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Checks the fault queue, latency and the other control endpoints.
// Serialized: these tests measure time, and the stand-in's concurrency is what they check, not the machine's.
@Suite(.serialized) struct FaultTests {

    /// Status faults use Stripe's error types, codes and `Stripe-Should-Retry`, one per request, in order.
    @Test func appliesStatusFaultsInOrder() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(
            #"{"kind":"status","status":429}"#,
            #"{"kind":"status","status":500,"shouldRetry":false,"code":"lock_timeout"}"#)
        let (limited, limitedResponse) = try await client.createSession(validForm)
        #expect(limitedResponse.statusCode == 429)
        let limitError = try #require(try StandInClient.object(limited)["error"] as? [String: Any])
        #expect(limitError["type"] as? String == "rate_limit_error")
        #expect(limitError["code"] as? String == "rate_limit")
        let (failed, failedResponse) = try await client.createSession(validForm)
        #expect(failedResponse.statusCode == 500)
        #expect(failedResponse.value(forHTTPHeaderField: "Stripe-Should-Retry") == "false")
        let failError = try #require(try StandInClient.object(failed)["error"] as? [String: Any])
        #expect(failError["type"] as? String == "api_error")
        #expect(failError["code"] as? String == "lock_timeout")
        let (_, normal) = try await client.createSession(validForm)
        #expect(normal.statusCode == 200)
    }

    /// `nonJSON` answers HTML and `noURL` answers a session without `url`.
    @Test func servesMalformedAnswers() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"nonJSON","status":502}"#, #"{"kind":"noURL"}"#)
        let (html, htmlResponse) = try await client.createSession(validForm)
        #expect(htmlResponse.statusCode == 502)
        #expect(htmlResponse.value(forHTTPHeaderField: "Content-Type") == "text/html")
        #expect(String(decoding: html, as: UTF8.self) == "<html>oops</html>")
        let (session, sessionResponse) = try await client.createSession(validForm)
        #expect(sessionResponse.statusCode == 200)
        let object = try StandInClient.object(session)
        #expect(object["url"] == nil)
        #expect((object["id"] as? String)?.hasPrefix("cs_test_") == true)
    }

    /// `echoKey` answers a Stripe error whose message holds the request's whole key, unmasked (Bearer and Basic),
    /// with its status (default 401); a bad status is refused; the next request is normal.
    @Test func echoesTheWholeKey() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"echoKey"}"#, #"{"kind":"echoKey","status":500}"#)
        let (first, firstResponse) = try await client.createSession(validForm)
        #expect(firstResponse.statusCode == 401)
        let firstError = try #require(try StandInClient.object(first)["error"] as? [String: Any])
        #expect(firstError["type"] as? String == "invalid_request_error")
        #expect((firstError["message"] as? String)?.contains("sk_test_standin") == true)
        let basic = "Basic " + Data("sk_test_standin:".utf8).base64EncodedString()
        let (second, secondResponse) = try await client.createSession(validForm, authorization: basic)
        #expect(secondResponse.statusCode == 500)
        let secondError = try #require(try StandInClient.object(second)["error"] as? [String: Any])
        #expect(secondError["type"] as? String == "api_error")
        #expect((secondError["message"] as? String)?.contains("sk_test_standin") == true)
        let (_, normal) = try await client.createSession(validForm)
        #expect(normal.statusCode == 200)
        let (_, refused) = try await client.send(
            "POST", "_standin/faults", body: #"{"faults":[{"kind":"echoKey","status":200}]}"#,
            headers: ["Content-Type": "application/json"])
        #expect(refused.statusCode == 400)
    }

    /// `drop` closes the connection with no response; on a fresh connection URLSession fails at once.
    @Test func dropsConnections() async throws {
        let standIn = try await StandInProcess()
        try await StandInClient(baseURL: standIn.baseURL).queueFaults(#"{"kind":"drop"}"#)
        let client = StandInClient(baseURL: standIn.baseURL, timeout: 5)
        let started = Date()
        await #expect(throws: URLError.self) { _ = try await client.createSession(validForm) }
        // Well under the 5 s client timeout: the failure is the drop, not a timeout.
        #expect(Date().timeIntervalSince(started) < 4)
        let (_, after) = try await client.createSession(validForm)
        #expect(after.statusCode == 200)
    }

    /// With `STAND_IN_CONNECTION_CLOSE=1` no connection is reused, so `drop` fails at once even on a shared session.
    @Test func dropsConnectionsPromptlyWhenNotKeepingAlive() async throws {
        let standIn = try await StandInProcess(environment: ["STAND_IN_CONNECTION_CLOSE": "1"])
        let client = StandInClient(baseURL: standIn.baseURL, timeout: 5)
        try await client.queueFaults(#"{"kind":"drop"}"#)
        let started = Date()
        do {
            _ = try await client.createSession(validForm)
            Issue.record("expected the dropped request to fail")
        } catch let error as URLError {
            #expect(error.code != .timedOut)
        }
        // Well under the 5 s client timeout: the failure is the drop, not a timeout.
        #expect(Date().timeIntervalSince(started) < 4)
        let (_, after) = try await client.createSession(validForm)
        #expect(after.statusCode == 200)
        #expect(after.value(forHTTPHeaderField: "Connection") == "close")
    }

    #if os(Linux)
        /// Documents a FoundationNetworking quirk: a drop on a reused connection is retried by libcurl without the body and times out.
        @Test func dropOnReusedConnectionTimesOutOnLinux() async throws {
            let standIn = try await StandInProcess()
            let client = StandInClient(baseURL: standIn.baseURL, timeout: 1)
            try await client.queueFaults(#"{"kind":"drop"}"#)
            do {
                _ = try await client.createSession(validForm)
                Issue.record("expected the dropped request to fail")
            } catch let error as URLError {
                #expect(error.code == .timedOut)
            }
        }
    #endif

    /// `hang` never answers, so the client times out, while other requests still get answers.
    @Test func hangsWithoutBlockingOthers() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"hang"}"#)
        let started = Date()
        async let hung = client.createSession(validForm, timeout: 10)
        try await Task.sleep(for: .milliseconds(200))
        let (_, other) = try await client.createSession(validForm)
        #expect(other.statusCode == 200)
        // Well before the hung request's 10 s timeout, with room for a loaded machine.
        #expect(Date().timeIntervalSince(started) < 8)
        do {
            _ = try await hung
            Issue.record("expected the hung request to time out")
        } catch let error as URLError {
            #expect(error.code == .timedOut)
        }
    }

    /// A latency fault delays only the next request.
    @Test func delaysOneRequest() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"latency","ms":1500}"#)
        var started = Date()
        _ = try await client.createSession(validForm)
        #expect(Date().timeIntervalSince(started) >= 1.5)
        started = Date()
        _ = try await client.createSession(validForm)
        #expect(Date().timeIntervalSince(started) < 1.2)
    }

    /// Requests are recorded with lowercased headers, raw body and decoded pairs; reset clears everything.
    @Test func recordsRequestsAndResets() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        _ = try await client.createSession("mode=payment&metadata[note]=a+b%26c", idempotencyKey: "key-r")
        let (data, _) = try await client.send("GET", "_standin/requests")
        let records = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record["body"] as? String == "mode=payment&metadata[note]=a+b%26c")
        #expect(record["params"] as? [[String]] == [["mode", "payment"], ["metadata[note]", "a b&c"]])
        #expect(record["idempotencyKey"] as? String == "key-r")
        #expect(record["method"] as? String == "POST")
        let headers = try #require(record["headers"] as? [String: String])
        #expect(headers["authorization"] == "Bearer sk_test_standin")
        try await client.queueFaults(#"{"kind":"status","status":503}"#)
        _ = try await client.send("POST", "_standin/reset")
        let (empty, _) = try await client.send("GET", "_standin/requests")
        #expect(String(decoding: empty, as: UTF8.self) == "[]")
        let (_, afterReset) = try await client.createSession(validForm)
        #expect(afterReset.statusCode == 200)
    }

    /// A fault with a `path` waits for a request under that prefix; other requests pass it by (and take an
    /// unfiltered fault queued behind it).
    @Test func waitsForMatchingPath() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(
            #"{"kind":"status","status":503,"path":"/v1/subscriptions/"}"#, #"{"kind":"status","status":429}"#)
        let (_, limited) = try await client.createSession(validForm)
        #expect(limited.statusCode == 429)
        let (_, normal) = try await client.createSession(validForm)
        #expect(normal.statusCode == 200)
        let (_, list) = try await client.api("GET", "v1/subscriptions")
        #expect(list.statusCode == 200)
        let (_, failed) = try await client.api("GET", "v1/subscriptions/sub_x")
        #expect(failed.statusCode == 503)
        let (_, after) = try await client.api("GET", "v1/subscriptions/sub_x")
        #expect(after.statusCode == 404)
        let (_, badPath) = try await client.send(
            "POST", "_standin/faults", body: #"{"faults":[{"kind":"drop","path":"v1/x"}]}"#)
        #expect(badPath.statusCode == 400)
    }

    /// A fault with a `method` waits for a request with that method.
    @Test func waitsForMatchingMethod() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(#"{"kind":"status","status":500,"method":"GET"}"#)
        let (_, created) = try await client.api("POST", "v1/customers", "email=a%40b.c")
        #expect(created.statusCode == 200)
        let (_, failed) = try await client.api("GET", "v1/customers/cus_x")
        #expect(failed.statusCode == 500)
    }

    /// Every kind applies to every `/v1` route: a latency, an HTML answer, a crafted answer, and `noURL` on a
    /// portal session.
    @Test func appliesFaultsToEveryRoute() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        try await client.queueFaults(
            #"{"kind":"nonJSON","status":502}"#, #"{"kind":"answer","status":409,"body":"{}"}"#,
            #"{"kind":"noURL","path":"/v1/billing_portal/"}"#, #"{"kind":"latency","ms":700}"#)
        let (html, htmlResponse) = try await client.api("GET", "v1/subscriptions")
        #expect(htmlResponse.statusCode == 502)
        #expect(String(decoding: html, as: UTF8.self) == "<html>oops</html>")
        let (_, crafted) = try await client.api("POST", "v1/checkout/sessions/cs_test_x/expire")
        #expect(crafted.statusCode == 409)
        let (portal, _) = try await client.api("POST", "v1/billing_portal/sessions", "customer=cus_1")
        let object = try StandInClient.object(portal)
        #expect(object["url"] == nil)
        #expect((object["id"] as? String)?.hasPrefix("bps_") == true)
        let started = Date()
        _ = try await client.api("GET", "v1/customers/cus_1")
        #expect(Date().timeIntervalSince(started) >= 0.7)
    }

    /// Bad control requests get a 400.
    @Test func rejectsBadFaults() async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL)
        let (_, unknown) = try await client.send("POST", "_standin/faults", body: #"{"faults":[{"kind":"explode"}]}"#)
        #expect(unknown.statusCode == 400)
        let (_, malformed) = try await client.send("POST", "_standin/latency", body: "ms=3")
        #expect(malformed.statusCode == 400)
    }

    /// With 300 ms added latency, many parallel requests finish in about one latency period, not in sequence.
    @Test(arguments: [50, 200])
    func handlesConcurrentRequests(count: Int) async throws {
        let standIn = try await StandInProcess()
        let client = StandInClient(baseURL: standIn.baseURL, timeout: 30)
        let (_, latency) = try await client.send("POST", "_standin/latency", body: #"{"ms":300}"#)
        #expect(latency.statusCode == 200)
        let started = Date()
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<count {
                group.addTask { try await client.createSession(validForm).1.statusCode }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("\(count) concurrent requests with 300 ms latency took \(elapsed) s")
        #expect(statuses.count == count && statuses.allSatisfy { $0 == 200 })
        #expect(elapsed >= 0.3)
        // Serialized, 50 requests would take 15 s and 200 would take 60 s.
        #expect(elapsed < 10)
    }
}
