import Threads

/// Fires the per-try timeouts of Stripe calls from one thread of its own.
///
/// A timer per try (a `DispatchSourceTimer`) made libdispatch re-arm its timer heap twice per request, waking
/// its manager thread each time. Here a new deadline wakes the thread only when it is earlier than every
/// pending one, which it almost never is (deadlines are added in order), and a cancelled deadline releases its
/// action at once. The thread otherwise sleeps until the earliest deadline.
final class TryDeadlines: @unchecked Sendable {
    // @unchecked: every stored var is guarded by `lock`.
    static let shared = TryDeadlines()

    /// Identifies a scheduled action, to cancel it.
    struct ID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private let lock = SleepingLock()
    /// Min-heap of (deadline on `SleepingLock.now()`'s clock, id); cancelled entries are dropped when they surface.
    private var heap: [(deadline: UInt64, id: UInt64)] = []
    private var actions: [UInt64: @Sendable () -> Void] = [:]
    private var nextID: UInt64 = 0
    private var threadStarted = false

    /// Runs `action` after `seconds` (on the deadline thread) unless cancelled first.
    func schedule(after seconds: Double, _ action: @escaping @Sendable () -> Void) -> ID {
        let deadline = SleepingLock.now() &+ UInt64(max(0, seconds) * 1e9)
        return lock.withLock {
            nextID &+= 1
            let id = nextID
            actions[id] = action
            let wake = heap.first.map { deadline < $0.deadline } ?? true
            push((deadline, id))
            if !threadStarted {
                threadStarted = true
                do {
                    try DetachedThread.start(stackSize: 128 * 1024) { [self] in run() }
                } catch {
                    preconditionFailure("cannot start the Stripe deadline thread (\(error))")
                }
            } else if wake {
                lock.signal()
            }
            return ID(value: id)
        }
    }

    /// Cancels a scheduled action; nothing happens if it already ran.
    func cancel(_ id: ID) {
        lock.withLock {
            actions[id.value] = nil
            // Tries end in about the order they started, so the cancelled ones are usually at the top: drop them now.
            while let top = heap.first, actions[top.id] == nil { pop() }
        }
    }

    /// How many actions are waiting (for tests).
    var pendingCount: Int {
        lock.withLock { actions.count }
    }

    /// The deadline thread: runs the actions that are due, outside the lock, for ever.
    private func run() {
        while true {
            for action in lock.withLock({ takeDue() }) { action() }
        }
    }

    /// With the lock held: sleeps until at least one action is due, and takes those out of the heap.
    private func takeDue() -> [@Sendable () -> Void] {
        while true {
            var due: [@Sendable () -> Void] = []
            let now = SleepingLock.now()
            while let top = heap.first, top.deadline <= now || actions[top.id] == nil {
                pop()
                if let action = actions.removeValue(forKey: top.id) { due.append(action) }
            }
            if !due.isEmpty { return due }
            lock.wait(untilNanoseconds: heap.first?.deadline)
        }
    }

    private func push(_ entry: (deadline: UInt64, id: UInt64)) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func pop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count && heap[right].deadline < heap[smallest].deadline { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
