@testable import PostgresStore
import Synchronization
import Testing

/// The one watch over the PostgreSQL store's operations in flight (`Deadlines`), and the timeout built on it.
@Suite struct DeadlinesTests {
    final class Flag: Sendable {
        private let raised = Mutex(false)
        func raise() { raised.withLock { $0 = true } }
        var isRaised: Bool { raised.withLock { $0 } }
    }

    @Test("an operation past its deadline is expired; one not due yet, or removed, is not")
    func expiresWhatIsDue() async throws {
        let deadlines = Deadlines()
        let due = Flag(), later = Flag(), removed = Flag()
        _ = deadlines.add(after: .milliseconds(200)) { due.raise() }
        let laterKey = deadlines.add(after: .seconds(3600)) { later.raise() }
        let removedKey = deadlines.add(after: .milliseconds(200)) { removed.raise() }
        deadlines.remove(removedKey)
        let start = ContinuousClock.now
        while !due.isRaised, ContinuousClock.now - start < .seconds(90) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(due.isRaised)
        try await Task.sleep(for: Deadlines.resolution * 3)
        #expect(!removed.isRaised)
        #expect(!later.isRaised)
        deadlines.remove(laterKey)
    }

    @Test("the watch starts again after it stopped: a deadline added when nothing was in flight is expired too")
    func watchesAgain() async throws {
        let deadlines = Deadlines()
        for _ in 0..<2 {
            let expired = Flag()
            _ = deadlines.add(after: .milliseconds(50)) { expired.raise() }
            let start = ContinuousClock.now
            while !expired.isRaised, ContinuousClock.now - start < .seconds(90) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(expired.isRaised)
            // Nothing is in flight now: the watch ends after its next look.
            try await Task.sleep(for: Deadlines.resolution * 3)
        }
    }

    @Test("an operation that never answers: TimedOut once the limit has passed, and the operation is cancelled")
    func hungOperation() async throws {
        let cancelled = Flag()
        let start = ContinuousClock.now
        await #expect(throws: TimedOut.self) {
            try await PostgresBillingStore.within(.milliseconds(300), deadlines: Deadlines()) {
                do { try await Task.sleep(for: .seconds(600)) } catch { cancelled.raise() }
            }
        }
        // Generous: the test process runs hundreds of tests at once on two CPUs, and the watch's task waits its
        // turn like any other.
        #expect(ContinuousClock.now - start < .seconds(90), "the limit, not the operation's ten minutes")
        while !cancelled.isRaised, ContinuousClock.now - start < .seconds(90) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(cancelled.isRaised)
    }

    @Test("an operation that answers in time gives its value, and its deadline is forgotten")
    func answeredInTime() async throws {
        let deadlines = Deadlines()
        let value = try await PostgresBillingStore.within(.seconds(30), deadlines: deadlines) { 42 }
        #expect(value == 42)
        #expect(deadlines.pendingCount == 0)
    }
}
