import Testing

@testable import Billing

/// `RetryPolicy`: Stripe's libraries' retry decision and backoff, as pure functions.
@Suite struct RetryPolicyTests {
    static let policy = RetryPolicy(maxRetries: 2)
    typealias Outcome = RetryPolicy.Outcome

    static func status(_ code: Int, shouldRetry: Bool? = nil, retryAfter: Double? = nil) -> Outcome {
        .response(status: code, shouldRetry: shouldRetry, retryAfter: retryAfter)
    }

    @Test(
        "retries what Stripe's libraries retry, within the budget",
        arguments: [
            (Outcome.connectionFailed, 0, true), (.connectionFailed, 1, true), (.connectionFailed, 2, false),
            (.timedOut, 0, true), (.timedOut, 2, false), (.tlsFailed, 0, false),
            (status(409), 0, true), (status(500), 1, true), (status(502), 0, true), (status(503), 0, true),
            (status(503), 2, false), (status(429), 0, false), (status(429, retryAfter: 1), 0, false),
            (status(429, shouldRetry: true), 0, true), (status(429, shouldRetry: true), 2, false),
            (status(500, shouldRetry: false), 0, false), (status(409, shouldRetry: false), 0, false),
            (status(400, shouldRetry: true), 0, true), (status(400), 0, false), (status(401), 0, false),
            (status(402), 0, false), (status(404), 0, false), (status(200), 0, false),
        ])
    func shouldRetry(outcome: Outcome, retriesSoFar: Int, expected: Bool) {
        #expect(Self.policy.shouldRetry(outcome, retriesSoFar: retriesSoFar) == expected)
    }

    @Test("a budget of zero never retries", arguments: [Outcome.connectionFailed, .timedOut, status(500), status(409)])
    func zeroBudget(outcome: Outcome) {
        #expect(!RetryPolicy(maxRetries: 0).shouldRetry(outcome, retriesSoFar: 0))
    }

    @Test(
        "the delay doubles from 0.5 s, is capped at 5 s and jittered to [½, 1]×, never under 0.5 s",
        arguments: [
            (1, 0.0, 0.5), (1, 1.0, 0.5), (2, 0.0, 0.5), (2, 1.0, 1.0), (3, 0.0, 1.0), (3, 1.0, 2.0),
            (4, 0.0, 2.0), (4, 1.0, 4.0), (5, 0.0, 2.5), (5, 1.0, 5.0), (6, 0.0, 2.5), (6, 1.0, 5.0),
            (40, 1.0, 5.0), (3, 0.5, 1.5), (4, -3.0, 2.0), (4, 7.0, 4.0),
        ])
    func delay(retry: Int, jitter: Double, expected: Double) {
        #expect(Self.policy.delay(beforeRetry: retry, jitter: jitter, after: .connectionFailed) == expected)
    }

    @Test("every delay stays within [0.5, 5] without Retry-After")
    func delayBounds() {
        for retry in 1...12 {
            for jitter in stride(from: 0.0, through: 1.0, by: 0.125) {
                let seconds = Self.policy.delay(beforeRetry: retry, jitter: jitter, after: Self.status(500))
                #expect(seconds >= 0.5 && seconds <= 5, "retry \(retry), jitter \(jitter): \(seconds)")
            }
        }
    }

    @Test(
        "Retry-After is honoured up to 60 s and ignored beyond",
        arguments: [
            (0.2, 0.5), (3.0, 3.0), (30.0, 30.0), (60.0, 60.0), (61.0, 0.5), (3600.0, 0.5),
        ])
    func retryAfter(header: Double, expected: Double) {
        #expect(Self.policy.delay(beforeRetry: 1, jitter: 0, after: Self.status(503, retryAfter: header)) == expected)
    }
}

@Suite struct TryTimeoutTests {
    @Test(
        "the deadline is shared among the tries left, never below two seconds",
        arguments: [
            (20.0, 0, 2, 20.0 / 3), (20.0, 1, 2, 10.0), (20.0, 2, 2, 20.0), (6.0, 0, 2, 2.0), (1.5, 0, 2, 1.5),
            (20.0, 0, 0, 20.0), (3.0, 3, 2, 3.0),
        ])
    func tryTimeout(remaining: Double, retriesSoFar: Int, maxRetries: Int, expected: Double) {
        let timeout = RetryPolicy(maxRetries: maxRetries)
            .tryTimeout(remaining: .milliseconds(Int(remaining * 1000)), retriesSoFar: retriesSoFar)
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        #expect(abs(seconds - expected) < 0.01)
    }
}
