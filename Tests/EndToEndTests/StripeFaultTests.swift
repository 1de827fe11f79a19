import Foundation
import Testing

/// Stripe failing in the ways it does in production, injected in the stand-in, seen through the binary.
@Suite("Stripe faults end to end")
struct StripeFaultTests {
    private func checkout(
        _ harness: CheckoutHarness, settings: [String: String?] = [:]
    ) async throws -> (response: CGIResponse, process: ProcessResult) {
        let token = try await Tokens.make()
        return try await harness.cgi(headers: harness.authorized(token), settings: settings)
    }

    @Test("5xx then success: retried, 200, every try with the same Idempotency-Key")
    func serverErrorThenSuccess() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "status", "status": 500], ["kind": "status", "status": 503]])
        let (response, _) = try await checkout(harness)
        #expect(response.status == 200)
        let calls = try await harness.standIn.recordedRequests()
        #expect(calls.count == 3)
        // Every try carries a key, and the same one: a try sent without one would be a second session.
        let key = try #require(calls.first?.idempotencyKey)
        #expect(key.hasPrefix("bc-"))
        #expect(calls.map(\.idempotencyKey) == Array(repeating: key, count: 3))
    }

    @Test("one hang, then success: the hung try is given up on its share of the deadline and retried, 200 after 2 tries")
    func hangOnceThenSuccess() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "hang"]])
        // 6 s for three tries: the first gets 2 s, which leaves time to retry.
        let (response, process) = try await checkout(harness, settings: ["STRIPE_TIMEOUT_SECONDS": "6"])
        #expect(response.status == 200)
        let calls = try await harness.standIn.recordedRequests()
        #expect(calls.count == 2)
        let key = try #require(calls.first?.idempotencyKey)
        #expect(calls.map(\.idempotencyKey) == [key, key])
        // Timed from the first try as Stripe saw it, not from the process's start (which a loaded machine delays):
        // the hung try had its 2 s share, and the retry came within the 6 s deadline.
        let gap = try #require(calls.last?.receivedAt) - (try #require(calls.first?.receivedAt))
        #expect(gap >= 1.9)
        #expect(gap < 6)
        #expect(process.elapsed >= .milliseconds(1900))
    }

    @Test("a plain 429 rate limit is not retried: 503 with Retry-After")
    func rateLimited() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "status", "status": 429]])
        let (response, _) = try await checkout(harness)
        #expect(response.status == 503)
        #expect(response.bodyText == #"{"detail":"Payment provider unavailable"}"#)
        #expect(Int(response.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(try await harness.standIn.recordedRequests().count == 1)
    }

    @Test("a 429 lock_timeout with Stripe-Should-Retry: true is retried")
    func lockTimeoutRetried() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([
            ["kind": "status", "status": 429, "code": "lock_timeout", "shouldRetry": true]
        ])
        let (response, _) = try await checkout(harness)
        #expect(response.status == 200)
        #expect(try await harness.standIn.recordedRequests().count == 2)
    }

    @Test("a 500 with Stripe-Should-Retry: false is not retried")
    func shouldRetryFalse() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "status", "status": 500, "shouldRetry": false]])
        let (response, _) = try await checkout(harness)
        #expect(response.status == 503)
        #expect(response.headers["retry-after"] != nil)
        #expect(try await harness.standIn.recordedRequests().count == 1)
    }

    @Test("409 is retried")
    func conflictRetried() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "status", "status": 409]])
        let (response, _) = try await checkout(harness)
        #expect(response.status == 200)
        #expect(try await harness.standIn.recordedRequests().count == 2)
    }

    @Test("5xx on every try: 503 after 1 + maxNetworkRetries tries")
    func retriesExhausted() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject(Array(repeating: ["kind": "status", "status": 502], count: 3))
        let (response, _) = try await checkout(harness)
        #expect(response.status == 503)
        #expect(try await harness.standIn.recordedRequests().count == 3)
    }

    @Test("a hanging Stripe is a 504 within the configured deadline")
    func hang() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject(Array(repeating: ["kind": "hang"], count: 3))
        let (response, process) = try await checkout(harness, settings: ["STRIPE_TIMEOUT_SECONDS": "2"])
        let answeredAt = Date().timeIntervalSince1970
        #expect(response.status == 504)
        #expect(response.bodyText == #"{"detail":"Payment provider timed out"}"#)
        #expect(process.elapsed >= .milliseconds(1900))
        // Timed from the first try as Stripe saw it, not from the process's start: every try within the 2 s
        // deadline, and the answer soon after it (the margin is for the process's exit on a loaded machine).
        let calls = try await harness.standIn.recordedRequests()
        let first = try #require(calls.first?.receivedAt)
        #expect(try #require(calls.last?.receivedAt) - first < 2)
        #expect(answeredAt - first < 4)
    }

    @Test("a dropped connection is retried; dropped on every try it is a 503")
    func droppedConnection() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "drop"]])
        #expect(try await checkout(harness).response.status == 200)
        try await harness.standIn.inject(Array(repeating: ["kind": "drop"], count: 3))
        let (response, _) = try await checkout(harness)
        #expect(response.status == 503)
    }

    @Test("a non-JSON 200 and a session without url are 502s")
    func badSuccessBodies() async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.inject([["kind": "nonJSON", "status": 200], ["kind": "noURL"]])
        let first = try await checkout(harness).response
        #expect(first.status == 502)
        #expect(first.bodyText == #"{"detail":"Payment provider rejected the request"}"#)
        #expect(try await checkout(harness).response.status == 502)
        #expect(try await checkout(harness).response.status == 200)
    }

    @Test("a wrong secret key is a 502 whose reason is in the log only, without the key")
    func wrongSecretKey() async throws {
        let harness = try await CheckoutHarness()
        let wrongKey = "sk_test_WRONGKEYMARKER123456"
        let (response, process) = try await checkout(harness, settings: ["STRIPE_SECRET_KEY": wrongKey])
        #expect(response.status == 502)
        #expect(response.bodyText == #"{"detail":"Payment provider rejected the request"}"#)
        #expect(process.stderrText.contains("401"))
        #expect(!process.stderrText.contains(wrongKey))
        #expect(!response.bodyText.contains(wrongKey))
    }

    @Test("Stripe refusing the parameters (400) is a 502")
    func stripeRejects() async throws {
        let harness = try await CheckoutHarness()
        let token = try await Tokens.make(customer: "not_a_customer")
        let (response, process) = try await harness.cgi(headers: harness.authorized(token))
        #expect(response.status == 502)
        #expect(process.stderrText.contains("400"))
    }
}
