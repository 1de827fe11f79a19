import CFastCGI
import Threads

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `POLLRDHUP` (Linux): the socket was shut for reading. Glibc declares it only with _GNU_SOURCE.
private let pollReadHangUp: Int16 = 0x2000

/// Takes connections off the listening socket, one thread at a time (libfcgi's threaded example does the same),
/// and drains its backlog once the process is asked to stop.
final class Acceptor: Sendable {
    private let listenFD: Int32
    /// The longest wait for the next part of a request body (`SO_RCVTIMEO` on each accepted connection).
    private let bodyTimeout: timeval
    private let lifecycle: ServerLifecycle
    private let roster: WorkerRoster
    private let lock = SleepingLock()
    /// When running out of descriptors or memory was last reported (guarded by `lock`).
    private nonisolated(unsafe) var lastReport: ContinuousClock.Instant?
    /// Where trouble the server keeps serving through goes, one line each.
    private let report: @Sendable (String) -> Void

    /// Out of descriptors or memory, accepting is tried again after this pause (the connection waits in the
    /// backlog meanwhile), and the problem is reported at most once per `reportInterval`.
    private static let exhaustionPause: useconds_t = 50_000
    private static let reportInterval = Duration.seconds(10)

    init(
        listenFD: Int32, bodyTimeoutSeconds: Int, lifecycle: ServerLifecycle, roster: WorkerRoster,
        report: @escaping @Sendable (String) -> Void
    ) {
        self.listenFD = listenFD
        self.bodyTimeout = timeval(tv_sec: max(1, bodyTimeoutSeconds), tv_usec: 0)
        self.lifecycle = lifecycle
        self.roster = roster
        self.report = report
    }

    /// Accepts the next connection into `request` for the worker in slot `index`; false once the process is asked
    /// to stop and the backlog is drained (or the socket failed).
    ///
    /// The worker first polls the socket so that it notices a shutdown within a quarter second instead of
    /// sleeping in accept() until the next connection. After a shutdown request it keeps accepting what the
    /// backlog holds: the web server has already sent those requests, and closing the socket under them
    /// would reset their connections, which the web server reports as a failed request or a connection
    /// closed without an answer.
    func accept(_ request: UnsafeMutablePointer<FCGX_Request>, index: Int) -> Bool {
        lock.withLock {
            var poller = pollfd(fd: listenFD, events: Int16(POLLIN) | pollReadHangUp, revents: 0)
            while true {
                let state = lifecycle.current
                if state.isDrained { return false }
                let stopping = !state.isServing
                if stopping && lifecycle.drainTimeIsUp() {
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
                // Shut for reading while the process still serves: its own shutdown comes after a stop request,
                // which the lifecycle has taken in by now (looked at after the poll), so another holder of a shared
                // socket did it. No connection will come any more, and the socket would poll readable for good:
                // answer what is queued, then stop with an error.
                if poller.revents & pollReadHangUp != 0 && lifecycle.current.isServing {
                    lifecycle.stop(because: "the listening socket was shut down by another process that holds it")
                    continue
                }
                roster.set(.accepting, of: index)
                let status = FCGX_Accept_r(request)
                if status >= 0 {
                    roster.set(.busy, of: index)
                    var timeout = bodyTimeout
                    _ = setsockopt(
                        request.pointee.ipcFd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    return true
                }
                roster.set(.waiting, of: index)
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
                    lifecycle.stop(because: "accepting a connection failed: \(Self.describe(errno: -status))")
                    return false
                }
            }
        }
    }

    /// The backlog is empty (or its time is up): the socket goes, and every worker stops accepting.
    /// Called with the lock held, so that no worker is polling or accepting meanwhile.
    private func finishDraining() {
        Signals.releaseListeningSocket()
        lifecycle.finishDraining()
    }

    /// Reports running out of descriptors or memory, at most once per `reportInterval` (the lock is held).
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
}
