import Synchronization

/// Where a serving process is in its life, as one value.
///
/// `serving` → `draining` on a stop signal or when the listening socket fails → `drained` once the backlog is
/// answered; the process ends when, after that, no request is in flight.
enum Lifecycle: Equatable, Sendable {
    /// Taking connections.
    case serving
    /// Asked to stop: answering what the socket's backlog still holds. A socket that could not be shut keeps
    /// taking connections meanwhile; past `deadline` the rest of its backlog is let go, so that a steady stream
    /// of connections cannot keep a stopping process alive. `failure` says why the socket is unusable, if it is.
    case draining(deadline: ContinuousClock.Instant?, failure: String?)
    /// The backlog is answered and the listening socket let go; the requests in flight finish, then the process
    /// ends (with `failure`, if any).
    case drained(failure: String?)

    /// How long the backlog of a socket that could not be shut is drained.
    static let drainLimit = Duration.seconds(2)

    /// True until the process is asked to stop.
    var isServing: Bool {
        if case .serving = self { return true }
        return false
    }

    /// True once the backlog is answered: no thread accepts any more.
    var isDrained: Bool {
        if case .drained = self { return true }
        return false
    }

    /// Why the listening socket stopped serving, when it failed.
    var failure: String? {
        switch self {
        case .serving: nil
        case .draining(_, let failure), .drained(let failure): failure
        }
    }

    /// Stops taking connections: a serving process starts draining, at `now`; the drain of a socket that could not
    /// be shut ends `drainLimit` later. A `failure` is kept (the first one) whatever the state.
    mutating func stop(at now: ContinuousClock.Instant, socketCanBeShut: Bool, failure: String? = nil) {
        switch self {
        case .serving:
            self = .draining(deadline: socketCanBeShut ? nil : now + Self.drainLimit, failure: failure)
        case .draining(let deadline, let earlier):
            self = .draining(deadline: deadline, failure: earlier ?? failure)
        case .drained(let earlier):
            self = .drained(failure: earlier ?? failure)
        }
    }

    /// True once a drain with a deadline has run its course.
    func drainTimeIsUp(at now: ContinuousClock.Instant) -> Bool {
        guard case .draining(let deadline?, _) = self else { return false }
        return now >= deadline
    }

    /// The backlog is empty, or its time is up.
    mutating func finishDraining() {
        self = .drained(failure: failure)
    }
}

/// The lifecycle of one serving process, shared by its threads, with the stop signal taken in.
final class ServerLifecycle: Sendable {
    private let state = Mutex(Lifecycle.serving)
    private let socketCanBeShut: Bool

    /// A serving process on a socket that may (`--listen PATH`) or may not be shut for reading.
    init(socketCanBeShut: Bool) {
        self.socketCanBeShut = socketCanBeShut
    }

    /// The state now, once a stop signal that came since the last look is taken in.
    var current: Lifecycle {
        state.withLock { state in
            if state.isServing && Signals.stopRequested {
                state.stop(at: .now, socketCanBeShut: socketCanBeShut)
            }
            return state
        }
    }

    /// Stops as a signal would, and makes the process end with `reason` once in-flight requests are answered.
    func stop(because reason: String) {
        state.withLock { $0.stop(at: .now, socketCanBeShut: socketCanBeShut, failure: reason) }
    }

    /// True once the drain of a socket that could not be shut has run its course.
    func drainTimeIsUp() -> Bool {
        current.drainTimeIsUp(at: .now)
    }

    /// The backlog is answered: no thread accepts any more.
    func finishDraining() {
        state.withLock { $0.finishDraining() }
    }
}
