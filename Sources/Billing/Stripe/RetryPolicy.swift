/// When to retry a Stripe call and how long to wait, as Stripe's own libraries decide
/// (stripe-python `_should_retry` / `_sleep_time_seconds`, stripe-node `_shouldRetry`).
public struct RetryPolicy: Sendable, Equatable {
    /// What one try ended with, as far as the retry decision cares.
    public enum Outcome: Sendable, Equatable {
        /// An HTTP response; `shouldRetry` is Stripe's `Stripe-Should-Retry` header, when sent.
        case response(status: Int, shouldRetry: Bool?, retryAfter: Double?)
        /// The connection failed or was lost before a response.
        case connectionFailed
        /// The try's time ran out.
        case timedOut
        /// TLS failed: retrying would fail the same way.
        case tlsFailed
    }

    /// First wait, and the floor of every wait, in seconds.
    public static let initialDelay = 0.5
    /// Longest wait, in seconds.
    public static let maxDelay = 5.0
    /// A `Retry-After` longer than this is not honoured (as stripe-python).
    public static let maxRetryAfter = 60.0

    /// Retries after the first try.
    public var maxRetries: Int

    /// Creates a policy with a retry budget.
    public init(maxRetries: Int) {
        self.maxRetries = maxRetries
    }

    /// Whether to try again after `outcome`, when `retriesSoFar` retries have already been made.
    public func shouldRetry(_ outcome: Outcome, retriesSoFar: Int) -> Bool {
        guard retriesSoFar < maxRetries else { return false }
        switch outcome {
        case .connectionFailed, .timedOut: return true
        case .tlsFailed: return false
        case .response(let status, let shouldRetry, _):
            if let shouldRetry { return shouldRetry }
            return status == 409 || status >= 500
        }
    }

    /// Seconds to wait before retry number `retry` (1-based): 0.5·2^(retry−1), capped at 5, scaled by
    /// `jitter` into [½, 1]×, never under 0.5, and at least a short `Retry-After` from Stripe.
    public func delay(beforeRetry retry: Int, jitter: Double, after outcome: Outcome) -> Double {
        let exponent = Double(max(0, retry - 1))
        var seconds = min(Self.maxDelay, Self.initialDelay * pow2(exponent))
        seconds *= 0.5 * (1 + min(max(jitter, 0), 1))
        seconds = max(Self.initialDelay, seconds)
        if case .response(_, _, let retryAfter?) = outcome, retryAfter <= Self.maxRetryAfter {
            seconds = max(seconds, retryAfter)
        }
        return seconds
    }

    /// A try never gets less than this, unless less than this remains.
    public static let minimumTryTimeout: Duration = .seconds(2)

    /// How long one try may take: the time left shared among the tries still allowed, but at least two seconds.
    ///
    /// A try that stalls (a hung Stripe, or a connection dropped while reused, which URLSession on Linux turns
    /// into a stall) then leaves time for a retry, instead of eating the whole deadline.
    public func tryTimeout(remaining: Duration, retriesSoFar: Int) -> Duration {
        let triesLeft = max(1, maxRetries - retriesSoFar + 1)
        return min(remaining, max(remaining / triesLeft, Self.minimumTryTimeout))
    }

    private func pow2(_ exponent: Double) -> Double {
        var result = 1.0
        var remaining = Int(min(exponent, 16))
        while remaining > 0 {
            result *= 2
            remaining -= 1
        }
        return result
    }
}
