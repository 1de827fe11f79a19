import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fires the per-try timeouts of Stripe calls from one thread of its own.
///
/// A timer per try (a `DispatchSourceTimer`) made libdispatch re-arm its timer heap twice per request, waking
/// its manager thread each time. Here a new deadline wakes the thread only when it is earlier than every
/// pending one, which it almost never is (deadlines are added in order), and a cancelled deadline releases its
/// action at once. The thread otherwise sleeps until the earliest deadline.
final class TryDeadlines: @unchecked Sendable {
    // @unchecked: every stored property is guarded by `mutex`.
    static let shared = TryDeadlines()

    /// Identifies a scheduled action, to cancel it.
    struct ID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Min-heap of (deadline in CLOCK_MONOTONIC nanoseconds, id); cancelled entries are dropped when they surface.
    private var heap: [(deadline: UInt64, id: UInt64)] = []
    private var actions: [UInt64: @Sendable () -> Void] = [:]
    private var nextID: UInt64 = 0
    private var threadStarted = false

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    /// Runs `action` after `seconds` (on the deadline thread) unless cancelled first.
    func schedule(after seconds: Double, _ action: @escaping @Sendable () -> Void) -> ID {
        let deadline = Self.now() &+ UInt64(max(0, seconds) * 1e9)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        nextID &+= 1
        let id = nextID
        actions[id] = action
        let wake = heap.first.map { deadline < $0.deadline } ?? true
        push((deadline, id))
        if !threadStarted {
            threadStarted = true
            startThread()
        } else if wake {
            pthread_cond_signal(condition)
        }
        return ID(value: id)
    }

    /// Cancels a scheduled action; nothing happens if it already ran.
    func cancel(_ id: ID) {
        pthread_mutex_lock(mutex)
        actions[id.value] = nil
        // Tries end in about the order they started, so the cancelled ones are usually at the top: drop them now.
        while let top = heap.first, actions[top.id] == nil { pop() }
        pthread_mutex_unlock(mutex)
    }

    /// How many actions are waiting (for tests).
    var pendingCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return actions.count
    }

    private func startThread() {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 128 * 1024)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, &attributes,
            { context in
                Unmanaged<TryDeadlines>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
        pthread_attr_destroy(&attributes)
        precondition(rc == 0, "cannot start the Stripe deadline thread (pthread_create: \(rc))")
    }

    private func run() {
        pthread_mutex_lock(mutex)
        while true {
            var due: [@Sendable () -> Void] = []
            let now = Self.now()
            while let top = heap.first, top.deadline <= now || actions[top.id] == nil {
                pop()
                if let action = actions.removeValue(forKey: top.id) { due.append(action) }
            }
            if !due.isEmpty {
                pthread_mutex_unlock(mutex)
                for action in due { action() }
                pthread_mutex_lock(mutex)
                continue
            }
            if let top = heap.first {
                var until = timespec(
                    tv_sec: Int(top.deadline / 1_000_000_000), tv_nsec: Int(top.deadline % 1_000_000_000))
                pthread_cond_timedwait(condition, mutex, &until)
            } else {
                pthread_cond_wait(condition, mutex)
            }
        }
    }

    private static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
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
