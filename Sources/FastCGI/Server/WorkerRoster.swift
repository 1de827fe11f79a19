import Synchronization

/// What each accepting thread is doing, so that a stopping process knows when no request is in flight, and (with
/// `.tasks`) how many are free to take connections, so that one is always left while others read slow bodies.
final class WorkerRoster: Sendable {
    /// What one accepting thread is doing.
    enum State: Sendable { case waiting, accepting, busy, exited }

    /// The most accepting threads ever started.
    private let limit: Int
    /// One slot per thread that may ever accept: the first `started` at the start; with `.tasks`, spare threads
    /// started while others read slow bodies take the slots after those (`.exited` until then).
    private let states: Mutex<[State]>
    /// `.tasks`: accepting threads not reading a request body, and how many have been started in all.
    private let acceptors: Mutex<(idle: Int, started: Int)>

    /// A roster of `started` waiting threads, with room for spares up to `limit`.
    init(started: Int, limit: Int) {
        self.limit = limit
        self.states = Mutex(
            Array(repeating: .waiting, count: started) + Array(repeating: .exited, count: limit - started))
        self.acceptors = Mutex((idle: started, started: started))
    }

    /// Records what the thread in slot `index` is doing.
    func set(_ state: State, of index: Int) {
        states.withLock { $0[index] = state }
    }

    /// True when no thread is between accepting a request and finishing it. An impatient caller also lets go of
    /// threads still inside `FCGX_Accept_r` (reading a request's params).
    func isSettled(patient: Bool) -> Bool {
        states.withLock { $0.allSatisfy { $0 == .exited || ($0 == .accepting && !patient) } }
    }

    /// `.tasks`: the calling thread is about to read a request's body, which takes as long as the web server
    /// takes to send it (mod_proxy_fcgi passes a slow client's body on as it comes). Returns the slot of a spare
    /// to start when no other thread would be left taking connections meanwhile (never while `serving` is false);
    /// at most `limit` threads are ever started, as many as requests may be in flight.
    func willReadBody(serving: Bool) -> Int? {
        acceptors.withLock { acceptors in
            acceptors.idle -= 1
            guard acceptors.idle == 0, acceptors.started < limit, serving else { return nil }
            let slot = acceptors.started
            acceptors.started += 1
            acceptors.idle += 1
            states.withLock { $0[slot] = .waiting }
            return slot
        }
    }

    /// `.tasks`: the body is read; the thread goes back to taking connections.
    func didReadBody() {
        acceptors.withLock { $0.idle += 1 }
    }
}
