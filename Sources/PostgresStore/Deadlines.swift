import Synchronization

/// The deadlines of a process's store operations in flight, watched by one sleeping task: every 100 ms while any
/// operation is in flight, those past their deadline are expired. One wake-up for all of them, where a timer per
/// operation cost a task, a timer and a cancellation (three thread hand-offs) for each statement.
final class Deadlines: Sendable {
    /// The process's one watch.
    static let shared = Deadlines()

    /// How often the watch looks: an operation is expired at most this long after its deadline.
    static let resolution: Duration = .milliseconds(100)

    private struct Pending {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }

    private struct State {
        var next = 0
        var pending: [Int: Pending] = [:]
        var watching = false
    }

    private let state = Mutex(State())

    /// Calls `expire` once `limit` has passed, unless `remove` is called first with the returned key.
    func add(after limit: Duration, _ expire: @escaping @Sendable () -> Void) -> Int {
        let deadline = ContinuousClock.now.advanced(by: limit)
        let (key, start) = state.withLock { state -> (Int, Bool) in
            state.next &+= 1
            state.pending[state.next] = Pending(deadline: deadline, expire: expire)
            defer { state.watching = true }
            return (state.next, !state.watching)
        }
        if start { Task { await self.watch() } }
        return key
    }

    /// Forgets the deadline under `key` (the operation finished).
    func remove(_ key: Int) {
        _ = state.withLock { state in state.pending.removeValue(forKey: key) }
    }

    /// How many deadlines are pending, for tests.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    private func watch() async {
        while true {
            try? await Task.sleep(for: Self.resolution)
            let now = ContinuousClock.now
            let (expired, done) = state.withLock { state -> ([Pending], Bool) in
                let expired = state.pending.filter { $0.value.deadline <= now }
                for key in expired.keys { state.pending.removeValue(forKey: key) }
                if state.pending.isEmpty { state.watching = false }
                return (Array(expired.values), state.pending.isEmpty)
            }
            for pending in expired { pending.expire() }
            if done { return }
        }
    }
}
