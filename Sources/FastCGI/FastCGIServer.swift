import CFastCGI
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Set from the SIGTERM/SIGUSR1 handler; read by every worker between requests.
private let shutdownRequested = Atomic<Bool>(false)
/// The listening socket, and /dev/null opened ahead of time, for the signal handler (-1 until serving).
private let listeningDescriptor = Atomic<Int32>(-1)
private let nullDescriptor = Atomic<Int32>(-1)

/// Lets go of the listening socket, so that the web server gets "connection refused" and turns to another
/// process instead of queueing on one that will not accept. dup2 (async-signal-safe) keeps the descriptor
/// number taken, so that no new socket can land on it while a worker still polls it.
private func releaseListeningSocket() {
    let listening = listeningDescriptor.load(ordering: .relaxed)
    let null = nullDescriptor.load(ordering: .relaxed)
    if listening >= 0 && null >= 0 {
        dup2(null, listening)
    }
}

/// A FastCGI responder: a pool of worker threads, each with its own `FCGX_Request`, taking turns to accept.
///
/// Each worker blocks in its own request while the application awaits Stripe, so one slow upstream call
/// never holds up the others; the pool size is the number of requests served at once.
public final class FastCGIServer: Sendable {
    /// What a worker is doing, so that shutdown knows when no request is in flight.
    enum WorkerState: Sendable { case waiting, accepting, busy, exited }

    private let address: ListenAddress
    private let workerCount: Int
    private let maxBodySize: Int
    private let states: Mutex<[WorkerState]>
    private let acceptLock = Mutex<Void>(())

    /// Creates a server; nothing is opened until `run`.
    public init(address: ListenAddress, workers: Int, maxBodySize: Int) {
        self.address = address
        self.workerCount = max(1, workers)
        self.maxBodySize = maxBodySize
        self.states = Mutex(Array(repeating: .waiting, count: max(1, workers)))
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
    public func run(handler: @escaping FastCGIHandler) throws(ListenError) {
        Self.installSignalHandlers()
        // After our handlers: libfcgi only installs its own where the disposition is still default or ignored.
        _ = FCGX_Init()
        let listenFD: Int32
        switch address.open(backlog: 1024) {
        case .success(let fd): listenFD = fd
        case .failure(let error): throw error
        }
        nullDescriptor.store(open("/dev/null", O_RDONLY), ordering: .relaxed)
        listeningDescriptor.store(listenFD, ordering: .relaxed)
        // A signal that came during start-up found no socket to release yet.
        if shutdownRequested.load(ordering: .relaxed) { releaseListeningSocket() }
        // glibc gives each busy thread its own malloc arena; with dozens of workers that fragments memory and
        // lets RSS creep up. A few arenas are plenty for threads that mostly wait (MALLOC_ARENA_MAX still wins).
        if getenv("MALLOC_ARENA_MAX") == nil {
            mallopt(M_ARENA_MAX, 4)
        }
        for index in 0..<workerCount {
            let worker = Worker(server: self, index: index, listenFD: listenFD, handler: handler)
            worker.start()
        }
        waitForShutdown(listenFD: listenFD)
        if case .unix(let path) = address { unlink(path) }
    }

    /// Blocks until shutdown was requested and no worker is between accepting a request and finishing it.
    private func waitForShutdown(listenFD: Int32) {
        while !shutdownRequested.load(ordering: .relaxed) {
            usleep(20_000)
        }
        releaseListeningSocket()
        while true {
            usleep(20_000)
            // A worker still in accept() lost a race with another process sharing the socket; it holds no request.
            let settled = states.withLock { $0.allSatisfy { $0 == .exited || $0 == .accepting } }
            if settled { return }
        }
    }

    fileprivate func setState(_ state: WorkerState, of index: Int) {
        states.withLock { $0[index] = state }
    }

    /// Takes the next connection, one worker at a time (libfcgi's threaded example does the same).
    ///
    /// The worker first polls the socket so that it notices a shutdown within a quarter second instead of
    /// sleeping in accept() until the next connection.
    fileprivate func accept(_ request: UnsafeMutablePointer<FCGX_Request>, listenFD: Int32, index: Int) -> Bool {
        acceptLock.withLock { _ in
            var poller = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            while !shutdownRequested.load(ordering: .relaxed) {
                let ready = poll(&poller, 1, 250)
                if ready < 0 && errno != EINTR { return false }
                guard ready > 0 else { continue }
                setState(.accepting, of: index)
                let status = FCGX_Accept_r(request)
                if status >= 0 {
                    setState(.busy, of: index)
                    return true
                }
                setState(.waiting, of: index)
                if status != -EINTR && status != -EAGAIN && status != -ECONNABORTED {
                    return false
                }
            }
            return false
        }
    }

    /// Handlers that only set flags and swap a descriptor: async-signal-safe.
    private static func installSignalHandlers() {
        signal(SIGPIPE, SIG_IGN)
        let stop: @convention(c) (Int32) -> Void = { _ in
            shutdownRequested.store(true, ordering: .relaxed)
            FCGX_ShutdownPending()
            releaseListeningSocket()
        }
        signal(SIGTERM, stop)
        signal(SIGUSR1, stop)
        signal(SIGINT, stop)
    }

    fileprivate var maxBody: Int { maxBodySize }
}

/// One worker thread and the `FCGX_Request` it owns for its whole life.
private final class Worker: @unchecked Sendable {
    // @unchecked: `request` is touched only by this worker's own thread after start().
    let server: FastCGIServer
    let index: Int
    let listenFD: Int32
    let handler: FastCGIHandler
    let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)

    init(server: FastCGIServer, index: Int, listenFD: Int32, handler: @escaping FastCGIHandler) {
        self.server = server
        self.index = index
        self.listenFD = listenFD
        self.handler = handler
        FCGX_InitRequest(request, listenFD, 0)
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
                worker.loop()
                return nil
            }, context)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            Unmanaged<Worker>.fromOpaque(context).release()
            server.setState(.exited, of: index)
        }
    }

    func loop() {
        while !shutdownRequested.load(ordering: .relaxed) {
            guard server.accept(request, listenFD: listenFD, index: index) else { break }
            serveOne()
            // Close the connection after every response: a kept-alive connection would hold the accept
            // lock while idle and could not be woken for shutdown.
            request.pointee.keepConnection = 0
            FCGX_Finish_r(request)
            server.setState(.waiting, of: index)
        }
        server.setState(.exited, of: index)
    }

    private func serveOne() {
        let params = readParams()
        let bytes = TransportResponses.answer(params: params, handler: handler) {
            readBody(declared: params["CONTENT_LENGTH"])
        }
        bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { pointer in
                _ = FCGX_PutStr(pointer, Int32(buffer.count), request.pointee.out)
            }
        }
    }

    private func readParams() -> [String: String] {
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
    private func readBody(declared: String?) -> RequestBody {
        let limit = server.maxBody
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
}
