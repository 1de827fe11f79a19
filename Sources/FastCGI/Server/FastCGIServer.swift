import CFastCGI
import HTTPResponder

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A FastCGI server answering up to `workers` requests at once, in one of two ways
/// (`TransportConfiguration.Dispatch`).
///
/// Either way one slow upstream call never holds up the others, and threads take turns to accept, each
/// request in its own `FCGX_Request`.
public struct FastCGIServer: Sendable {
    private let address: ListenAddress
    private let configuration: TransportConfiguration
    private let report: @Sendable (String) -> Void

    /// Creates a server; nothing is opened until `run`. `report` receives a line for each problem the server
    /// works around while it serves (out of file descriptors, say).
    ///
    /// The configuration's `bodyTimeoutSeconds` bounds each wait for more of a request's body: a body that stops
    /// coming (a web server that passes on a stalled client's body as it comes) ends short, and the request gets
    /// a 400, instead of holding its place, and a stopping process, for as long as the web server waits.
    public init(
        address: ListenAddress, configuration: TransportConfiguration = TransportConfiguration(),
        report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.address = address
        self.configuration = configuration
        self.report = report
    }

    /// True when the process was started as plain CGI (stdin is not a listening socket).
    ///
    /// Installs the shutdown handlers first: asking libfcgi initializes it, and libfcgi installs its own
    /// SIGTERM/SIGUSR1 handlers wherever none is set yet, which would swallow an early signal unseen by us.
    /// A CGI process gets the default dispositions back, so that a web server's SIGTERM still ends it.
    public static var isCGI: Bool {
        Signals.install()
        let cgi = FCGX_IsCGI() != 0
        if cgi { Signals.restoreDefaults() }
        return cgi
    }

    /// Serves requests until SIGTERM, SIGUSR1 or SIGINT, then answers those accepted and queued, and returns;
    /// throws when the listening socket cannot be opened, or failed for good while serving.
    public func run(responder: some Responder) throws(ListenError) {
        Signals.install()
        // After our handlers: libfcgi only installs its own where the disposition is still default or ignored.
        _ = FCGX_Init()
        let listenFD: Int32
        switch address.open(backlog: 1024) {
        case .success(let fd): listenFD = fd
        case .failure(let error): throw error
        }
        // Workers poll before they accept; on a socket shared with other processes (spawn-fcgi -F, a systemd
        // socket unit) another process may take the connection in between, and a blocking accept() would then
        // hold the accept lock until the next connection, if any, and keep this process from stopping.
        // Accepted connections do not inherit the flag on Linux.
        _ = fcntl(listenFD, F_SETFL, fcntl(listenFD, F_GETFL) | O_NONBLOCK)
        let socketCanBeShut = if case .unix = address { true } else { false }
        Signals.watch(listening: listenFD, canBeShut: socketCanBeShut)
        // glibc gives each busy thread its own malloc arena; with dozens of workers that fragments memory and
        // lets RSS creep up. A few arenas are plenty for threads that mostly wait (MALLOC_ARENA_MAX still wins).
        if getenv("MALLOC_ARENA_MAX") == nil {
            mallopt(M_ARENA_MAX, 4)
        }
        let pool = WorkerPool(
            listenFD: listenFD, socketCanBeShut: socketCanBeShut, configuration: configuration, responder: responder,
            report: report)
        pool.start()
        pool.waitUntilStopped()
        if case .unix(let path) = address { unlink(path) }
        if let failure = pool.lifecycle.current.failure {
            throw ListenError(address: address.description, failure: failure)
        }
    }
}
