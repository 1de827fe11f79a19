import Dispatch
import Synchronization

/// Runs async work to completion from a plain thread (a FastCGI worker or the CGI main thread).
///
/// The worker threads are ours, not Swift's cooperative pool, so blocking one of them on a semaphore
/// while the responder runs on the pool is safe: the pool never waits on a worker.
enum AsyncBridge {
    /// Starts `operation` as a task and blocks the calling thread until it has produced its result.
    static func run<Result: Sendable>(_ operation: @escaping @Sendable () async -> Result) -> Result {
        let slot = Slot<Result>()
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await operation()
            slot.value.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return slot.value.withLock { $0! }
    }

    private final class Slot<Value: Sendable>: Sendable {
        let value = Mutex<Value?>(nil)
    }
}
