import HTTPResponder
import HTTPTypes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The accepting threads of one serving process and what they share: the lifecycle, the acceptor, the places for
/// requests in flight, and what each thread is doing.
final class WorkerPool: Sendable {
    /// How each accepted request is served.
    let dispatch: TransportConfiguration.Dispatch
    /// The listening socket every `FCGX_Request` is initialized with.
    let listenFD: Int32
    /// The largest body read; a larger one becomes `Request.Body.tooLarge`.
    let maxBodySize: Int
    /// The application.
    let responder: any Responder
    let lifecycle: ServerLifecycle
    let roster: WorkerRoster
    let acceptor: Acceptor
    /// `.tasks`: at most `workers` requests in flight.
    let places: Places
    /// Threads that accept at the start: all workers with `.threads`, a few with `.tasks`.
    private let acceptorCount: Int

    /// How long a stopping process waits for a worker that is still reading a request's params.
    private static let acceptLimit = Duration.seconds(5)

    /// A pool serving up to `configuration.workers` requests at once on `listenFD`; nothing runs until `start`.
    init(
        listenFD: Int32, socketCanBeShut: Bool, configuration: TransportConfiguration, responder: any Responder,
        report: @escaping @Sendable (String) -> Void
    ) {
        let workers = max(1, configuration.workers)
        let dispatch = configuration.dispatch
        self.dispatch = dispatch
        self.listenFD = listenFD
        self.maxBodySize = configuration.maxBodyBytes
        self.responder = responder
        // Accepting and reading a request is quick (web servers send a request whole), so a few threads keep up;
        // more than one, so that a server that is slow to send one request does not hold up the rest.
        self.acceptorCount = dispatch == .threads ? workers : min(workers, 4)
        self.roster = WorkerRoster(started: acceptorCount, limit: dispatch == .threads ? acceptorCount : workers)
        self.lifecycle = ServerLifecycle(socketCanBeShut: socketCanBeShut)
        self.acceptor = Acceptor(
            listenFD: listenFD, bodyTimeoutSeconds: configuration.bodyTimeoutSeconds, lifecycle: lifecycle,
            roster: roster,
            report: report)
        self.places = Places(count: workers)
    }

    /// Starts the accepting threads.
    func start() {
        for index in 0..<acceptorCount {
            Worker(pool: self, index: index).start()
        }
    }

    /// Blocks until the process was asked to stop, the backlog is drained and no worker is between accepting a
    /// request and finishing it.
    func waitUntilStopped() {
        while lifecycle.current.isServing {
            usleep(20_000)
        }
        let began = ContinuousClock.now
        while true {
            usleep(20_000)
            // A worker inside FCGX_Accept_r may already hold a connection whose params it is reading: leaving
            // then would drop that request. Only a web server that connects and never sends could keep a
            // worker there; after `acceptLimit` such a worker no longer holds up the exit.
            let patient = ContinuousClock.now - began < Self.acceptLimit
            if roster.isSettled(patient: patient) && places.isIdle { return }
        }
    }

    /// The body limit for a request: the responder's for its head, given the configured one.
    func bodyLimit(for head: HTTPRequest) -> Int {
        responder.bodyLimit(for: head, standard: maxBodySize)
    }
}
