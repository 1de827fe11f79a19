import Synchronization
import Testing

@testable import Billing

/// `TryDeadlines`: the per-try timeouts of Stripe calls.
@Suite struct TryDeadlinesTests {
    final class Fired: Sendable {
        let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }

        /// Waits until `count` actions have fired (at most 20 s, far past every deadline here but the one of
        /// 30 s): the tests wait for the event, not for a time that a loaded machine may overrun.
        func wait(for count: Int) async throws {
            let clock = ContinuousClock()
            let end = clock.now + .seconds(20)
            while all.count < count, clock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        }
    }

    @Test("fires due actions in deadline order, never a cancelled one, and keeps nothing afterwards")
    func firesAndCancels() async throws {
        let deadlines = TryDeadlines()
        let fired = Fired()
        _ = deadlines.schedule(after: 0.15) { fired.add("late") }
        let cancelled = deadlines.schedule(after: 0.05) { fired.add("cancelled") }
        _ = deadlines.schedule(after: 0.1) { fired.add("early") }
        deadlines.cancel(cancelled)
        // Actions fire in deadline order: once "late" has, the cancelled one would have fired before it.
        try await fired.wait(for: 2)
        #expect(fired.all == ["early", "late"])
        #expect(deadlines.pendingCount == 0)
    }

    @Test("a deadline earlier than every pending one wakes the sleeping thread")
    func earlierDeadlineWakes() async throws {
        let deadlines = TryDeadlines()
        let fired = Fired()
        _ = deadlines.schedule(after: 30) { fired.add("far") }
        try await Task.sleep(for: .milliseconds(50))  // the thread now sleeps until the far deadline
        _ = deadlines.schedule(after: 0.05) { fired.add("near") }
        try await fired.wait(for: 1)  // a thread that slept on until the far deadline would miss the 20 s
        #expect(fired.all == ["near"])
        #expect(deadlines.pendingCount == 1)
    }

    @Test("cancelling after the action ran, or twice, changes nothing")
    func lateCancel() async throws {
        let deadlines = TryDeadlines()
        let fired = Fired()
        let id = deadlines.schedule(after: 0.01) { fired.add("ran") }
        try await fired.wait(for: 1)
        deadlines.cancel(id)
        deadlines.cancel(id)
        #expect(fired.all == ["ran"])
        #expect(deadlines.pendingCount == 0)
    }
}
