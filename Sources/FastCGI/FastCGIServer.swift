import CFastCGI
import Dispatch
import HTTPResponder
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `POLLRDHUP` (Linux): the socket was shut for reading. Glibc declares it only with _GNU_SOURCE.
private let pollReadHangUp: Int16 = 0x2000

/// Set from the SIGTERM/SIGUSR1 handler; read by every worker between requests.
private let shutdownRequested = Atomic<Bool>(false)
/// The listening socket, and /dev/null opened ahead of time, for the signal handler (-1 until serving).
private let listeningDescriptor = Atomic<Int32>(-1)
private let nullDescriptor = Atomic<Int32>(-1)
/// Whether the listening socket may be shut for reading: a Unix socket the process opened itself.
private let socketCanBeShut = Atomic<Bool>(false)

/// Refuses new connections while keeping those already queued, where the kernel allows it.
///
/// On a Unix listening socket `shutdown(SHUT_RD)` makes every later `connect()` fail with ECONNREFUSED,
/// so the web server turns to another process at once, while the connections already in the backlog
/// (the web server has sent their requests) can still be accepted and answered; `accept()` finds nothing
/// (EAGAIN, the socket being non-blocking) once they are all taken. That state belongs to the socket, not to
/// this process's descriptor, so it is only used on a socket the process opened itself (`--listen PATH`): an
/// inherited one may be shared with processes that go on serving (spawn-fcgi -F, a systemd socket unit), and
/// would be shut for them too. A TCP socket has no such state (shutting it resets its backlog). Every other
/// socket stays open until the workers have drained it (`FastCGIServer.accept`).
/// Async-signal-safe: two atomic loads and `shutdown`.
private func stopTakingConnections() {
    let listening = listeningDescriptor.load(ordering: .acquiring)
    if listening >= 0 && socketCanBeShut.load(ordering: .relaxed) {
        shutdown(listening, Int32(SHUT_RD))
    }
}

/// Lets go of the listening socket once its backlog is drained, so that any connection after that is
/// refused instead of queued on a process that will not accept. dup2 keeps the descriptor number taken,
/// so that no new socket can land on it while a worker still polls it.
private func releaseListeningSocket() {
    let listening = listeningDescriptor.load(ordering: .acquiring)
    let null = nullDescriptor.load(ordering: .relaxed)
    if listening >= 0 && null >= 0 {
        dup2(null, listening)
    }
}

/// A FastCGI responder serving up to `workers` requests at once, in one of two ways (`Dispatch`).
///
/// Either way one slow upstream call never holds up the others, and threads take turns to accept, each
/// request in its own `FCGX_Request`.
public final class FastCGIServer: Sendable {
    /// How an accepted request is served while the application awaits Stripe.
    public enum Dispatch: String, Sendable, CaseIterable {
        /// A pool of `workers` threads; each accepts a request, blocks until the application has answered it,
        /// writes the answer and accepts the next.
        case threads
        /// A few accepting threads read each request and hand it to a Swift task, which answers it and writes
        /// the answer itself; at most `workers` requests are in flight.
        case tasks
    }

    /// What an accepting thread is doing, so that shutdown knows when no request is in flight.
    enum WorkerState: Sendable { case waiting, accepting, busy, exited }

    private let address: ListenAddress
    private let workerCount: Int
    private let maxBodySize: Int
    /// The longest wait for the next part of a request body (`SO_RCVTIMEO` on each accepted connection).
    private let bodyTimeout: timeval
    private let dispatch: Dispatch
    /// Threads that accept: all workers with `.threads`, a few with `.tasks`.
    private let acceptorCount: Int
    /// One slot per thread that may ever accept: `acceptorCount` at the start; with `.tasks`, spare acceptors
    /// started while others read slow bodies take the slots after those (`.exited` until then).
    private let states: Mutex<[WorkerState]>
    /// `.tasks`: accepting threads not reading a request body, and how many have been started in all.
    private let acceptors: Mutex<(idle: Int, started: Int)>
    private let acceptLock = SleepingLock()
    /// `.tasks`: requests accepted and not yet finished, and the free places among `workers`.
    private let inFlight = Atomic<Int>(0)
    private let places: DispatchSemaphore
    /// Set once shutdown was requested and the backlog holds no more connections to answer.
    private let drained = Atomic<Bool>(false)
    /// A socket that cannot be shut keeps taking connections while it is drained; past this instant (set
    /// when the drain starts, guarded by the accept lock) the rest of its backlog is let go, so that a
    /// steady stream of connections cannot keep a stopping process alive.
    private nonisolated(unsafe) var drainDeadline: ContinuousClock.Instant?
    private static let drainLimit = Duration.seconds(2)
    /// How long a stopping process waits for a worker that is still reading a request's params.
    private static let acceptLimit = Duration.seconds(5)
    /// Out of descriptors or memory, accepting is tried again after this pause (the connection waits in the
    /// backlog meanwhile), and the problem is reported at most once per `reportInterval`.
    private static let exhaustionPause: useconds_t = 50_000
    private static let reportInterval = Duration.seconds(10)
    /// When exhaustion was last reported (guarded by the accept lock).
    private nonisolated(unsafe) var lastReport: ContinuousClock.Instant?
    /// Set when accepting failed in a way no retry can mend (the socket itself is unusable).
    private let failure = Mutex<String?>(nil)
    /// Where the server reports trouble it keeps serving through, one line each.
    private let report: @Sendable (String) -> Void

    /// Creates a server; nothing is opened until `run`. `report` receives a line for each problem the server
    /// works around while it serves (out of file descriptors, say).
    ///
    /// `bodyTimeoutSeconds` bounds each wait for more of a request's body: a body that stops coming (a web server
    /// that passes on a stalled client's body as it comes) ends short, and the request gets a 400, instead of
    /// holding its place, and a stopping process, for as long as the web server waits.
    public init(
        address: ListenAddress, workers: Int, maxBodySize: Int, bodyTimeoutSeconds: Int = 30,
        dispatch: Dispatch = .tasks, report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.address = address
        self.bodyTimeout = timeval(tv_sec: max(1, bodyTimeoutSeconds), tv_usec: 0)
        self.report = report
        self.workerCount = max(1, workers)
        self.maxBodySize = maxBodySize
        self.dispatch = dispatch
        // Accepting and reading a request is quick (web servers send a request whole), so a few threads keep up;
        // more than one, so that a server that is slow to send one request does not hold up the rest.
        self.acceptorCount = dispatch == .threads ? max(1, workers) : min(max(1, workers), 4)
        let slots = dispatch == .threads ? acceptorCount : max(1, workers)
        self.states = Mutex(
            Array(repeating: .waiting, count: acceptorCount)
                + Array(repeating: .exited, count: slots - acceptorCount))
        self.acceptors = Mutex((idle: acceptorCount, started: acceptorCount))
        self.places = DispatchSemaphore(value: max(1, workers))
    }

    /// True when the process was started as plain CGI (stdin is not a listening socket).
    ///
    /// Installs the shutdown handlers first: asking libfcgi initializes it, and libfcgi installs its own
    /// SIGTERM/SIGUSR1 handlers wherever none is set yet, which would swallow an early signal unseen by us.
    /// A CGI process gets the default dispositions back, so that a web server's SIGTERM still ends it.
    public static var isCGI: Bool {
        installSignalHandlers()
        let cgi = FCGX_IsCGI() != 0
        if cgi {
            signal(SIGTERM, SIG_DFL)
            signal(SIGUSR1, SIG_DFL)
            signal(SIGINT, SIG_DFL)
        }
        return cgi
    }

    /// Serves requests until SIGTERM or SIGUSR1, then lets in-flight requests finish and returns.
    public func run(responder: some Responder) throws(ListenError) {
        Self.installSignalHandlers()
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
        nullDescriptor.store(open("/dev/null", O_RDONLY), ordering: .relaxed)
        if case .unix = address { socketCanBeShut.store(true, ordering: .relaxed) }
        listeningDescriptor.store(listenFD, ordering: .releasing)
        // A signal that came during start-up found no socket yet; the web server may have queued requests
        // on it all the same (it creates the socket before it starts the process): they are answered.
        if shutdownRequested.load(ordering: .relaxed) { stopTakingConnections() }
        // glibc gives each busy thread its own malloc arena; with dozens of workers that fragments memory and
        // lets RSS creep up. A few arenas are plenty for threads that mostly wait (MALLOC_ARENA_MAX still wins).
        if getenv("MALLOC_ARENA_MAX") == nil {
            mallopt(M_ARENA_MAX, 4)
        }
        for index in 0..<acceptorCount {
            let worker = Worker(server: self, index: index, listenFD: listenFD, responder: responder)
            worker.start()
        }
        waitForShutdown()
        if case .unix(let path) = address { unlink(path) }
        if let failure = failure.withLock({ $0 }) {
            throw ListenError(address: address.description, failure: failure)
        }
    }

    /// Blocks until shutdown was requested, the backlog is drained and no worker is between accepting a
    /// request and finishing it.
    private func waitForShutdown() {
        while !shutdownRequested.load(ordering: .relaxed) {
            usleep(20_000)
        }
        let began = ContinuousClock.now
        while true {
            usleep(20_000)
            // A worker inside FCGX_Accept_r may already hold a connection whose params it is reading: leaving
            // then would drop that request. Only a web server that connects and never sends could keep a
            // worker there; after `acceptLimit` such a worker no longer holds up the exit.
            let patient = ContinuousClock.now - began < Self.acceptLimit
            let settled = states.withLock { $0.allSatisfy { $0 == .exited || ($0 == .accepting && !patient) } }
            if settled && inFlight.load(ordering: .acquiring) == 0 { return }
        }
    }

    fileprivate func setState(_ state: WorkerState, of index: Int) {
        states.withLock { $0[index] = state }
    }

    /// Takes the next connection, one worker at a time (libfcgi's threaded example does the same); false
    /// once shutdown was requested and the backlog is drained.
    ///
    /// The worker first polls the socket so that it notices a shutdown within a quarter second instead of
    /// sleeping in accept() until the next connection. After a shutdown request it keeps accepting what the
    /// backlog holds: the web server has already sent those requests, and closing the socket under them
    /// would reset their connections, which the web server reports as a failed request or a connection
    /// closed without an answer.
    fileprivate func accept(_ request: UnsafeMutablePointer<FCGX_Request>, listenFD: Int32, index: Int) -> Bool {
        acceptLock.withLock {
            var poller = pollfd(fd: listenFD, events: Int16(POLLIN) | pollReadHangUp, revents: 0)
            while !drained.load(ordering: .relaxed) {
                let stopping = shutdownRequested.load(ordering: .relaxed)
                if stopping && drainTimeIsUp() {
                    finishDraining()
                    return false
                }
                let ready = poll(&poller, 1, stopping ? 0 : 250)
                if ready < 0 && errno == EINTR { continue }
                if ready == 0 && !stopping { continue }
                if ready <= 0 {
                    if stopping { finishDraining() }  // nothing left in the backlog
                    return false
                }
                if !stopping && poller.revents & pollReadHangUp != 0 {
                    // Shut for reading, and not by this process (its own shutdown comes after the request to stop):
                    // another holder of a shared socket did it. No connection will come any more, and the socket
                    // would poll readable for good: answer what is queued, then stop with an error.
                    stopServing(because: "the listening socket was shut down by another process that holds it")
                    continue
                }
                setState(.accepting, of: index)
                let status = FCGX_Accept_r(request)
                if status >= 0 {
                    setState(.busy, of: index)
                    var timeout = bodyTimeout
                    _ = setsockopt(
                        request.pointee.ipcFd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    return true
                }
                setState(.waiting, of: index)
                if stopping {
                    // After shutdown(SHUT_RD) the socket polls readable for good and accept() finds nothing
                    // (EAGAIN) once the backlog is empty; without it, an accept() that fails now ends the drain too.
                    finishDraining()
                    return false
                }
                switch -status {
                case EINTR, EAGAIN, ECONNABORTED, EPERM:
                    // Interrupted, taken by another process sharing the socket, or that one connection is gone.
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: in-flight requests will give some back. The connection stays in
                    // the backlog; only this thread tries again, after a pause, as the lock is held.
                    reportExhaustion(errno: -status)
                    usleep(Self.exhaustionPause)
                default:
                    // The socket itself is unusable (closed, not a socket): no retry mends that. The process stops
                    // once in-flight requests are answered and exits with an error, so the web server replaces it.
                    stopServing(because: "accepting a connection failed: \(Self.describe(errno: -status))")
                    return false
                }
            }
            return false
        }
    }

    /// Stops as a signal would, and makes `run` throw `reason` once in-flight requests are answered.
    private func stopServing(because reason: String) {
        failure.withLock { $0 = $0 ?? reason }
        shutdownRequested.store(true, ordering: .relaxed)
    }

    /// Reports running out of descriptors or memory, at most once per `reportInterval` (the accept lock is held).
    private func reportExhaustion(errno code: Int32) {
        let now = ContinuousClock.now
        if let last = lastReport, now - last < Self.reportInterval { return }
        lastReport = now
        let hint =
            code == EMFILE || code == ENFILE
            ? "; raise the open-files limit (LimitNOFILE=, ulimit -n) or lower WORKERS" : ""
        report(
            "cannot accept a connection: \(Self.describe(errno: code)); it waits in the backlog and accepting is "
                + "tried again every \(Self.exhaustionPause / 1000) ms\(hint)")
    }

    private static func describe(errno code: Int32) -> String {
        guard code > 0, code < 4096, let text = strerror(code) else { return "unknown error (libfcgi \(-code))" }
        return "\(String(cString: text)) (errno \(code))"
    }

    /// True once the drain of a socket that could not be shut has run its course (the accept lock is held).
    private func drainTimeIsUp() -> Bool {
        guard !socketCanBeShut.load(ordering: .relaxed) else { return false }
        let now = ContinuousClock.now
        guard let deadline = drainDeadline else {
            drainDeadline = now + Self.drainLimit
            return false
        }
        return now >= deadline
    }

    /// The backlog is empty (or its time is up): the socket goes, and every worker stops accepting.
    /// Called with the accept lock held, so that no worker is polling or accepting meanwhile.
    private func finishDraining() {
        releaseListeningSocket()
        drained.store(true, ordering: .relaxed)
    }

    /// Handlers that only set a flag and shut a socket for reading: async-signal-safe.
    ///
    /// libfcgi's own flag (`FCGX_ShutdownPending`) is left alone: with it set, `FCGX_Accept_r` refuses to
    /// accept, and the backlog could not be drained.
    private static func installSignalHandlers() {
        signal(SIGPIPE, SIG_IGN)
        let stop: @convention(c) (Int32) -> Void = { _ in
            shutdownRequested.store(true, ordering: .relaxed)
            stopTakingConnections()
        }
        signal(SIGTERM, stop)
        signal(SIGUSR1, stop)
        signal(SIGINT, stop)
    }

    fileprivate var maxBody: Int { maxBodySize }
    fileprivate var dispatchMode: Dispatch { dispatch }

    /// `.tasks`: waits for a free place among `workers` (false once the backlog is drained after a shutdown
    /// request).
    fileprivate func takePlace() -> Bool {
        while !drained.load(ordering: .relaxed) {
            if places.wait(timeout: .now() + .milliseconds(250)) == .success { return true }
        }
        return false
    }

    /// `.tasks`: the calling acceptor is about to read a request's body, which takes as long as the web server
    /// takes to send it (mod_proxy_fcgi passes a slow client's body on as it comes). Returns the slot of a spare
    /// acceptor to start when no other acceptor would be left taking connections meanwhile; at most `workers`
    /// acceptors are ever started, as many as requests may be in flight.
    fileprivate func willReadBody() -> Int? {
        acceptors.withLock { acceptors in
            acceptors.idle -= 1
            guard acceptors.idle == 0, acceptors.started < workerCount, !shutdownRequested.load(ordering: .relaxed)
            else { return nil }
            let slot = acceptors.started
            acceptors.started += 1
            acceptors.idle += 1
            states.withLock { $0[slot] = .waiting }
            return slot
        }
    }

    /// `.tasks`: the body is read; the acceptor goes back to taking connections.
    fileprivate func didReadBody() {
        acceptors.withLock { $0.idle += 1 }
    }

    /// `.tasks`: a place was taken but no request accepted into it.
    fileprivate func givePlaceBack() {
        places.signal()
    }

    fileprivate func requestStarted() {
        inFlight.add(1, ordering: .acquiringAndReleasing)
    }

    /// `.tasks`: a request is finished and its place free again.
    fileprivate func requestFinished() {
        inFlight.subtract(1, ordering: .acquiringAndReleasing)
        places.signal()
    }
}

/// One accepting thread. With `.threads` it serves each request itself in the one `FCGX_Request` it keeps for its
/// whole life; with `.tasks` it gives each accepted request an `FCGX_Request` of its own and hands it to a task.
private final class Worker: Sendable {
    let server: FastCGIServer
    let index: Int
    let listenFD: Int32
    let responder: any Responder

    init(server: FastCGIServer, index: Int, listenFD: Int32, responder: any Responder) {
        self.server = server
        self.index = index
        self.listenFD = listenFD
        self.responder = responder
    }

    func start() {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setstacksize(&attributes, 256 * 1024)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(
            &thread, &attributes,
            { context in
                let worker = Unmanaged<Worker>.fromOpaque(context!).takeRetainedValue()
                switch worker.server.dispatchMode {
                case .threads: worker.loop()
                case .tasks: worker.handOffLoop()
                }
                return nil
            }, context)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            Unmanaged<Worker>.fromOpaque(context).release()
            server.setState(.exited, of: index)
        }
    }

    /// `.threads`: accept, answer, write, finish, in turn.
    func loop() {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        FCGX_InitRequest(request, listenFD, 0)
        while server.accept(request, listenFD: listenFD, index: index) {
            let params = FastCGIExchange.params(of: request)
            let bytes = TransportResponses.answer(params: params, responder: responder) {
                FastCGIExchange.body(of: request, declared: params["CONTENT_LENGTH"], limit: server.maxBody)
            }
            FastCGIExchange.finish(request, writing: bytes)
            server.setState(.waiting, of: index)
        }
        server.setState(.exited, of: index)
    }

    /// `.tasks`: accept and read a request, hand it to a task that answers it, accept the next.
    func handOffLoop() {
        while server.takePlace() {
            let accepted = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
            FCGX_InitRequest(accepted, listenFD, 0)
            guard server.accept(accepted, listenFD: listenFD, index: index) else {
                accepted.deallocate()
                server.givePlaceBack()
                break
            }
            server.requestStarted()
            let params = FastCGIExchange.params(of: accepted)
            if let slot = server.willReadBody() {
                Worker(server: server, index: slot, listenFD: listenFD, responder: responder).start()
            }
            let request = TransportResponses.request(params: params) {
                FastCGIExchange.body(of: accepted, declared: params["CONTENT_LENGTH"], limit: server.maxBody)
            }
            server.didReadBody()
            server.setState(.waiting, of: index)
            let exchange = HandOff(request: accepted)
            guard let request else {
                exchange.finish(writing: ResponseEncoder.encode(TransportResponses.badRequest), server: server)
                continue
            }
            Task { [responder, server] in
                let response = await responder.respond(to: request)
                exchange.finish(writing: ResponseEncoder.encode(response), server: server)
            }
        }
        server.setState(.exited, of: index)
    }
}

/// An accepted request on its way to the task that answers it.
// @unchecked: the pointer is used by one thread at a time: the accepting thread until the hand-off, then the task.
private final class HandOff: @unchecked Sendable {
    let request: UnsafeMutablePointer<FCGX_Request>

    init(request: UnsafeMutablePointer<FCGX_Request>) {
        self.request = request
    }

    func finish(writing bytes: [UInt8], server: FastCGIServer) {
        FastCGIExchange.finish(request, writing: bytes)
        request.deallocate()
        server.requestFinished()
    }
}

/// Reading a request from, and writing its answer to, an accepted `FCGX_Request`.
private enum FastCGIExchange {
    static func params(of request: UnsafeMutablePointer<FCGX_Request>) -> [String: String] {
        var params: [String: String] = [:]
        guard var cursor = request.pointee.envp else { return params }
        while let entry = cursor.pointee {
            let length = strlen(entry)
            let bytes = UnsafeRawBufferPointer(start: entry, count: length)
            if let equals = bytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: bytes[..<equals], as: UTF8.self)
                params[name] = String(decoding: bytes[(equals + 1)...], as: UTF8.self)
            }
            cursor += 1
        }
        return params
    }

    /// Reads the body from FCGI_STDIN: `CONTENT_LENGTH` bytes, or to the end of the stream when the server
    /// sent none (nginx with a chunked request body), never keeping more than the limit.
    static func body(of request: UnsafeMutablePointer<FCGX_Request>, declared: String?, limit: Int) -> Request.Body {
        let expected: Int?
        switch CGIEnvironment.declaredLength(declared, limit: limit) {
        case .absent: expected = nil
        case .exactly(let length): expected = length
        case .tooLarge: return .tooLarge
        case .malformed: return .malformed("CONTENT_LENGTH is not a number")
        }
        // With a length, read exactly that many bytes (as CGI does); without one, up to one past the limit.
        let capacity = expected ?? (limit + 1)
        var body = [UInt8](repeating: 0, count: expected ?? min(capacity, 16 * 1024))
        var filled = 0
        while true {
            if filled == body.count {
                if body.count >= capacity { break }
                body.append(contentsOf: repeatElement(0, count: min(body.count, capacity - body.count)))
            }
            let count = body.withUnsafeMutableBytes { buffer in
                FCGX_GetStr(
                    buffer.baseAddress!.assumingMemoryBound(to: CChar.self) + filled,
                    Int32(buffer.count - filled), request.pointee.in)
            }
            if count <= 0 { break }
            filled += Int(count)
        }
        if filled > limit { return .tooLarge }
        if let expected, filled < expected {
            return .malformed("body has \(filled) bytes, CONTENT_LENGTH announced \(expected)")
        }
        body.removeSubrange(filled...)
        return .bytes(body)
    }

    /// Writes the answer and ends the request, closing the connection.
    ///
    /// The connection is closed after every response: a kept-alive connection would hold the accept lock while
    /// idle and could not be woken for shutdown.
    static func finish(_ request: UnsafeMutablePointer<FCGX_Request>, writing bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                _ = FCGX_PutStr(pointer, Int32(buffer.count), request.pointee.out)
            }
        }
        request.pointee.keepConnection = 0
        FCGX_Finish_r(request)
    }
}

/// A lock whose waiters sleep in the kernel at once (a plain pthread mutex).
///
/// The accept lock is held for as long as the socket is quiet; `Mutex` spins before it sleeps, and with every
/// idle thread spinning in turn that showed as 2.5 % of the process's CPU under load.
private final class SleepingLock: @unchecked Sendable {
    // @unchecked: the pthread mutex is the synchronization; it lives at a fixed address for the lock's life.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
