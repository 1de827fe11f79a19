#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A lock whose waiters sleep in the kernel at once (a plain pthread mutex), with a condition to wait on under it.
///
/// `Mutex` spins before it sleeps. The FastCGI accept lock is held for as long as the socket is quiet, and with
/// every idle thread spinning in turn that showed as 2.5 % of the process's CPU under load.
public final class SleepingLock: @unchecked Sendable {
    // @unchecked: the pthread mutex is the synchronization; it and the condition live at fixed addresses for the
    // lock's life.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Creates an unlocked lock; its condition measures deadlines on `SleepingLock.now()`'s clock.
    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with the lock held.
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Inside `withLock`: lets go of the lock until `signal()` or the `deadline` (nanoseconds on `now()`'s clock;
    /// nil waits for a signal only), then takes it again. It may also return early: look at what was awaited again.
    public func wait(untilNanoseconds deadline: UInt64? = nil) {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return
        }
        var until = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &until)
    }

    /// Wakes one thread waiting in `wait`.
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Nanoseconds on the clock `wait(untilNanoseconds:)` measures (`CLOCK_MONOTONIC`).
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
