import Foundation
import Synchronization
import Testing

@testable import Billing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `URLSessionStripeClient`'s retry loop over a scripted transport and a recording sleep: which tries are made,
/// what each one carries, how long the loop waits between them and when it gives up.
@Suite struct RetryLoopTests {
    /// One scripted try: what the transport answers.
    struct Step: Sendable {
        var attempt: StripeAttempt
    }

    /// A transport that answers from a script, in order, and records every request with the timeout it got.
    final class ScriptedTransport: StripeTransport {
        struct Try: Sendable {
            var idempotencyKey: String?
            var timeout: Duration
            var authorization: String?
        }

        private let script: Mutex<[Step]>
        private let tries = Mutex<[Try]>([])

        init(_ steps: [Step]) {
            script = Mutex(steps)
        }

        var recorded: [Try] { tries.withLock { $0 } }

        func send(_ request: URLRequest, timeout: Duration) async -> StripeAttempt {
            tries.withLock {
                $0.append(
                    Try(
                        idempotencyKey: request.value(forHTTPHeaderField: "Idempotency-Key"), timeout: timeout,
                        authorization: request.value(forHTTPHeaderField: "Authorization")))
            }
            let step = script.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            guard let step else { return .failed(.connectionFailed, "the script has no more tries") }
            return step.attempt
        }
    }

    /// Records every wait the loop asks for, without waiting.
    final class RecordingSleep: Sendable {
        private let waits = Mutex<[Double]>([])
        var recorded: [Double] { waits.withLock { $0 } }
        var function: @Sendable (Double) async -> Void {
            { [self] seconds in waits.withLock { $0.append(seconds) } }
        }
    }

    static let parameters = CheckoutSessionParameters(
        priceID: "price_123", successURL: "https://app.example.com/s", cancelURL: "https://app.example.com/c",
        userID: "u_1")

    static func session(id: String = "cs_test_loop1") -> StripeAttempt {
        let body = #"{"object":"checkout.session","id":"\#(id)","url":"https://checkout.stripe.com/c/pay/\#(id)"}"#
        return .exchange(
            StripeExchange(status: 200, headers: ["request-id": "req_loop"], body: Data(body.utf8)))
    }

    static func status(_ code: Int, headers: [String: String] = [:]) -> StripeAttempt {
        let body = #"{"error":{"type":"api_error","message":"scripted \#(code)"}}"#
        return .exchange(StripeExchange(status: code, headers: headers, body: Data(body.utf8)))
    }

    static func client(
        _ transport: ScriptedTransport, sleep: RecordingSleep, timeoutSeconds: Double = 20, retries: Int = 2
    ) -> URLSessionStripeClient {
        var settings = Fixture.stripeSettings()
        settings.timeoutSeconds = timeoutSeconds
        settings.maxNetworkRetries = retries
        return URLSessionStripeClient(
            settings: settings, transport: transport, logger: Fixture.silentLogger, sleep: sleep.function)
    }

    static func create(_ client: URLSessionStripeClient, key: String = "bc-loop-key") async -> Result<
        CheckoutSession, CheckoutError
    > {
        do throws(CheckoutError) {
            return .success(try await client.createCheckoutSession(parameters, idempotencyKey: key))
        } catch {
            return .failure(error)
        }
    }

    @Test("a retry whose wait would end past the deadline is not made: the last answer stands, no wait")
    func retryPastDeadlineSkipped() async throws {
        // Retry-After 30 (honoured: ≤ 60) against a 5 s deadline.
        let transport = ScriptedTransport([
            Step(attempt: Self.status(503, headers: ["retry-after": "30"])), Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, timeoutSeconds: 5))
        guard case .failure(.stripeUnavailable(let retryAfter, _)) = result else {
            Issue.record("want stripeUnavailable, got \(result)")
            return
        }
        #expect(retryAfter == 30)
        #expect(transport.recorded.count == 1)
        #expect(sleep.recorded.isEmpty)
    }

    @Test("a retry whose wait ends within the deadline is made (the same script, a 40 s deadline)")
    func retryWithinDeadlineMade() async throws {
        let transport = ScriptedTransport([
            Step(attempt: Self.status(503, headers: ["retry-after": "30"])), Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, timeoutSeconds: 40))
        #expect(try result.get().id == "cs_test_loop1")
        #expect(transport.recorded.count == 2)
        #expect(sleep.recorded == [30])
    }

    // A stall is scripted as the transport's answer when a try's own timer fires (`.timedOut`), at once: the
    // test checks the timeout each try was given, not the clock, so that a loaded machine cannot change the result.
    static let stall = Step(attempt: .failed(.timedOut, "no answer within the deadline"))

    @Test("a stalled try gets only its share of the deadline, not all of it, and is retried: the second try answers")
    func stalledTryRetried() async throws {
        // 3 s for three tries: the first gets max(3 s / 3, 2 s) = 2 s, which leaves time to retry.
        let transport = ScriptedTransport([Self.stall, Step(attempt: Self.session())])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, timeoutSeconds: 3))
        #expect(try result.get().id == "cs_test_loop1")
        let tries = transport.recorded
        #expect(tries.count == 2)
        #expect(tries.first?.timeout == RetryPolicy.minimumTryTimeout)
        #expect(sleep.recorded == [RetryPolicy.initialDelay])
    }

    @Test("a try that stalls every time is a timeout after the budget; each try is bounded by what remains")
    func stallsEveryTime() async throws {
        let transport = ScriptedTransport([Self.stall, Self.stall, Self.stall, Step(attempt: Self.session())])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, timeoutSeconds: 30))
        #expect(result == .failure(.stripeTimedOut))
        let timeouts = transport.recorded.map(\.timeout)
        #expect(timeouts.count == 3)
        // 30 s shared by the tries still allowed: about 10 s, then 15 s, then all that remains (never over 30 s).
        #expect(timeouts.allSatisfy { $0 <= .seconds(30) })
        #expect(timeouts.first.map { $0 > .milliseconds(9_500) && $0 <= .seconds(10) } == true)
        #expect(timeouts.last.map { $0 > .milliseconds(29_000) } == true)
    }

    @Test(
        "a TLS failure is never retried, whatever the budget",
        arguments: [0, 2, 5])
    func tlsNotRetried(retries: Int) async throws {
        let transport = ScriptedTransport([
            Step(attempt: .failed(.tlsFailed, "TLS failed (URLError -1200)")), Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, retries: retries))
        guard case .failure(.stripeUnavailable(let retryAfter, let reason)) = result else {
            Issue.record("want stripeUnavailable, got \(result)")
            return
        }
        #expect(retryAfter == 1)
        #expect(reason.contains("TLS"))
        #expect(transport.recorded.count == 1)
        #expect(sleep.recorded.isEmpty)
    }

    @Test("a failed connection is retried (the contrast to TLS): two failures, then the session")
    func connectionFailureRetried() async throws {
        let transport = ScriptedTransport([
            Step(attempt: .failed(.connectionFailed, "refused")), Step(attempt: .failed(.connectionFailed, "refused")),
            Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep))
        #expect(try result.get().id == "cs_test_loop1")
        #expect(transport.recorded.count == 3)
        #expect(sleep.recorded.count == 2)
    }

    @Test(
        "Stripe's Retry-After sets the wait when it is longer than the backoff",
        arguments: [("3", 3.0), ("7.5", 7.5), ("12", 12.0)])
    func retryAfterSetsWait(header: String, seconds: Double) async throws {
        let transport = ScriptedTransport([
            Step(attempt: Self.status(503, headers: ["retry-after": header])), Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep))
        #expect(try result.get().id == "cs_test_loop1")
        #expect(sleep.recorded == [seconds])
    }

    @Test("without a Retry-After (or a shorter one, or one over 60 s) the first wait is the 0.5 s backoff")
    func backoffWithoutRetryAfter() async throws {
        for headers in [[:], ["retry-after": "0.1"], ["retry-after": "61"], ["retry-after": "NaN"]] {
            let transport = ScriptedTransport([
                Step(attempt: Self.status(500, headers: headers)), Step(attempt: Self.session()),
            ])
            let sleep = RecordingSleep()
            let result = await Self.create(Self.client(transport, sleep: sleep))
            #expect(try result.get().id == "cs_test_loop1")
            #expect(sleep.recorded == [RetryPolicy.initialDelay], "\(headers)")
        }
    }

    @Test("every try carries the same Idempotency-Key, the one the caller gave, and the secret key")
    func oneKeyAcrossTries() async throws {
        let transport = ScriptedTransport([
            Step(attempt: Self.status(500)), Step(attempt: .failed(.connectionFailed, "reset")),
            Step(attempt: Self.session()),
        ])
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep), key: "bc-one-key-for-all")
        #expect(try result.get().id == "cs_test_loop1")
        let tries = transport.recorded
        #expect(tries.count == 3)
        #expect(tries.map(\.idempotencyKey) == Array(repeating: "bc-one-key-for-all", count: 3))
        #expect(tries.allSatisfy { $0.authorization == "Bearer \(Fixture.stripeKey)" })
    }

    @Test("the retry budget bounds the tries: 1 + maxNetworkRetries, then the last answer is mapped")
    func budgetBoundsTries() async throws {
        let transport = ScriptedTransport(Array(repeating: Step(attempt: Self.status(500)), count: 6))
        let sleep = RecordingSleep()
        let result = await Self.create(Self.client(transport, sleep: sleep, retries: 2))
        guard case .failure(.stripeUnavailable) = result else {
            Issue.record("want stripeUnavailable, got \(result)")
            return
        }
        #expect(transport.recorded.count == 3)
        #expect(sleep.recorded.count == 2)
    }
}
