import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Set by the stop signals' handler, never cleared. The handler cannot take a lock, so it only posts the request;
/// the serving process's lifecycle takes it in at its next look (`ServerLifecycle.current`).
private let stopPosted = Atomic<Bool>(false)
/// The listening socket, and /dev/null opened ahead of time, for the signal handler (-1 until serving).
private let listeningDescriptor = Atomic<Int32>(-1)
private let nullDescriptor = Atomic<Int32>(-1)
/// Whether the listening socket may be shut for reading: a Unix socket the process opened itself.
private let socketCanBeShut = Atomic<Bool>(false)

/// SIGTERM, SIGUSR1 and SIGINT, and what their handler does to the listening socket.
///
/// Everything here that the handler reaches is async-signal-safe: atomics, `shutdown` and `dup2`.
enum Signals {
    /// Installs the stop handlers (and ignores SIGPIPE).
    ///
    /// libfcgi's own flag (`FCGX_ShutdownPending`) is left alone: with it set, `FCGX_Accept_r` refuses to accept,
    /// and the backlog could not be drained.
    static func install() {
        signal(SIGPIPE, SIG_IGN)
        let stop: @convention(c) (Int32) -> Void = { _ in
            stopPosted.store(true, ordering: .sequentiallyConsistent)
            stopTakingConnections()
        }
        signal(SIGTERM, stop)
        signal(SIGUSR1, stop)
        signal(SIGINT, stop)
    }

    /// Gives the stop signals their default dispositions back (a CGI process, which a web server's SIGTERM ends).
    static func restoreDefaults() {
        signal(SIGTERM, SIG_DFL)
        signal(SIGUSR1, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }

    /// True once a stop signal came.
    static var stopRequested: Bool {
        stopPosted.load(ordering: .sequentiallyConsistent)
    }

    /// Hands the handler the listening socket, and whether it may shut it.
    ///
    /// A signal that came during start-up found no socket yet; the web server may have queued requests on it all
    /// the same (it creates the socket before it starts the process): it is shut now, and they are answered.
    static func watch(listening: Int32, canBeShut: Bool) {
        nullDescriptor.store(open("/dev/null", O_RDONLY), ordering: .relaxed)
        socketCanBeShut.store(canBeShut, ordering: .relaxed)
        listeningDescriptor.store(listening, ordering: .releasing)
        if stopRequested { stopTakingConnections() }
    }

    /// Lets go of the listening socket once its backlog is drained, so that any connection after that is
    /// refused instead of queued on a process that will not accept. dup2 keeps the descriptor number taken,
    /// so that no new socket can land on it while a worker still polls it.
    static func releaseListeningSocket() {
        let listening = listeningDescriptor.load(ordering: .acquiring)
        let null = nullDescriptor.load(ordering: .relaxed)
        if listening >= 0 && null >= 0 {
            dup2(null, listening)
        }
    }
}

/// Refuses new connections while keeping those already queued, where the kernel allows it.
///
/// On a Unix listening socket `shutdown(SHUT_RD)` makes every later `connect()` fail with ECONNREFUSED,
/// so the web server turns to another process at once, while the connections already in the backlog
/// (the web server has sent their requests) can still be accepted and answered; `accept()` finds nothing
/// (EAGAIN, the socket being non-blocking) once they are all taken. That state belongs to the socket, not to
/// this process's descriptor, so it is only used on a socket the process opened itself (`--listen PATH`): an
/// inherited one may be shared with processes that go on serving (spawn-fcgi -F, a systemd socket unit), and
/// would be shut for them too. A TCP socket has no such state (shutting it resets its backlog). Every other
/// socket stays open until the workers have drained it (`Acceptor.accept`).
private func stopTakingConnections() {
    let listening = listeningDescriptor.load(ordering: .acquiring)
    if listening >= 0 && socketCanBeShut.load(ordering: .relaxed) {
        shutdown(listening, Int32(SHUT_RD))
    }
}
