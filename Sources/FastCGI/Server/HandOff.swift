import CFastCGI
import Dispatch
import Synchronization

/// `.tasks`: the places for requests in flight, at most `workers` of them; further connections wait in the
/// socket's backlog until one is free.
final class Places: Sendable {
    /// Requests accepted and not yet finished.
    private let inFlight = Atomic<Int>(0)
    private let free: DispatchSemaphore

    /// `count` free places.
    init(count: Int) {
        self.free = DispatchSemaphore(value: count)
    }

    /// Waits for a free place; false once `lifecycle` is drained (a stopping process accepts no more).
    func take(unless lifecycle: ServerLifecycle) -> Bool {
        while !lifecycle.current.isDrained {
            if free.wait(timeout: .now() + .milliseconds(250)) == .success { return true }
        }
        return false
    }

    /// A place was taken but no request accepted into it.
    func giveBack() {
        free.signal()
    }

    /// A request was accepted into a taken place.
    func requestStarted() {
        inFlight.add(1, ordering: .acquiringAndReleasing)
    }

    /// A request is finished and its place free again.
    func requestFinished() {
        inFlight.subtract(1, ordering: .acquiringAndReleasing)
        free.signal()
    }

    /// True when no request is in flight.
    var isIdle: Bool {
        inFlight.load(ordering: .acquiring) == 0
    }
}

/// `.tasks`: an accepted request on its way to the task that answers it.
// @unchecked: the pointer is used by one thread at a time: the accepting thread until the hand-off, then the task.
final class HandOff: @unchecked Sendable {
    private let request: UnsafeMutablePointer<FCGX_Request>
    private let places: Places

    /// Takes over `request`, accepted into one of `places`.
    init(request: UnsafeMutablePointer<FCGX_Request>, places: Places) {
        self.request = request
        self.places = places
    }

    /// Writes the answer, ends the request, and frees its place.
    func finish(writing bytes: [UInt8]) {
        FastCGIExchange.finish(request, writing: bytes)
        request.deallocate()
        places.requestFinished()
    }
}
