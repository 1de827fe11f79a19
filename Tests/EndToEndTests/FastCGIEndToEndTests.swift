import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built binary as a long-running FastCGI server (`--listen`), many requests per process.
@Suite("FastCGI end to end")
struct FastCGIEndToEndTests {
    /// Every test runs with both ways of serving requests (`FASTCGI_DISPATCH`).
    static let dispatchModes = ["threads", "tasks"]

    static func settings(_ harness: CheckoutHarness, dispatch: String) -> [String: String] {
        var settings = harness.settings
        settings["FASTCGI_DISPATCH"] = dispatch
        return settings
    }

    /// Waits until the stand-in has received `count` checkout calls (an event; the limit only ends a hung test).
    static func waitUntil(_ harness: CheckoutHarness, hasRecorded count: Int, timeout: Double = 60) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while try await harness.standIn.recordedRequests().count < count {
            guard ContinuousClock.now < deadline else { throw SupportError("the stand-in never got \(count) calls") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("serves the contract's answers, request after request, from one process", arguments: dispatchModes)
    func contract(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        let ok = try await server.request(headers: harness.authorized(token))
        #expect(ok.status == 200)
        #expect(try ok.json()["url"] as? String != nil)
        let anonymous = try await server.request()
        #expect(anonymous.status == 401)
        #expect(anonymous.headers["www-authenticate"] == "Bearer")
        let invalid = try await server.request(headers: harness.authorized(token), body: "[]")
        #expect(invalid.status == 422)
        let notFound = try await server.request(path: "/nope", headers: harness.authorized(token))
        #expect(notFound.status == 404)
        let get = try await server.request(method: "GET", headers: harness.authorized(token), body: "")
        #expect(get.status == 405)
        #expect(get.headers["allow"] == "POST")
        let again = try await server.request(headers: harness.authorized(token))
        #expect(again.status == 200)
        #expect(try await harness.standIn.recordedRequests().count == 2)
    }

    @Test(
        "a slow Stripe does not serialize requests: 40 at once with 1 s latency are in flight together",
        arguments: dispatchModes)
    func concurrency(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 1000)
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        let responses = try await server.parallelRequests(count: 40, headers: harness.authorized(token))
        #expect(responses.allSatisfy { $0.status == 200 })
        #expect(Set(responses.map(\.bodyText)).count == 40, "each request gets its own session")
        // Measured by the process itself, not by how long the test took (the test's clock runs slow on a loaded
        // machine): each request's log line says when it ended and how long it took. Serialized, at most one
        // would be in flight at any moment; a small pool, at most its size.
        let intervals = try Self.requestIntervals(in: server.log())
        #expect(intervals.count == 40)
        #expect(Self.mostAtOnce(intervals) >= 20, "requests in flight at once, from the log: \(intervals)")
    }

    /// (start, end) in seconds of each request the process logged, from its `ts` (the end) and `duration_ms`.
    static func requestIntervals(in log: String) throws -> [(Double, Double)] {
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return try log.split(separator: "\n").filter { $0.contains(" msg=request ") }.map { line in
            var fields: [Substring: Substring] = [:]
            for pair in line.split(separator: " ") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                fields[pair[..<equals]] = pair[pair.index(after: equals)...]
            }
            guard let ts = fields["ts"], let end = try? format.parse(String(ts)),
                let duration = fields["duration_ms"].flatMap({ Double($0) })
            else { throw SupportError("unreadable log line: \(line)") }
            let seconds = end.timeIntervalSince1970
            return (seconds - duration / 1000, seconds)
        }
    }

    /// The most intervals that overlap at one moment.
    static func mostAtOnce(_ intervals: [(Double, Double)]) -> Int {
        var events: [(time: Double, change: Int)] = []
        for (start, end) in intervals {
            events.append((start, 1))
            events.append((end, -1))
        }
        // At the same instant an end counts before a start.
        events.sort { $0.time < $1.time || ($0.time == $1.time && $0.change < $1.change) }
        var current = 0
        var most = 0
        for (_, change) in events {
            current += change
            most = max(most, current)
        }
        return most
    }

    @Test(
        "waiting on Stripe over a new connection costs no CPU (URLSession's busy polling is worked around)",
        arguments: dispatchModes)
    func waitingCostsNoCPU(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 1500)
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        // The process's first call to Stripe opens the connection: the case URLSession busy-polls in, burning
        // about one CPU for as long as the answer takes (1.5 s here) when CCurlPollFix is not linked in.
        let before = try server.cpuSeconds()
        let response = try await server.request(headers: harness.authorized(token))
        let used = try server.cpuSeconds() - before
        #expect(response.status == 200)
        #expect(used < 0.5, "CPU seconds used while the answer took 1.5 s")
    }

    @Test(
        "out of file descriptors, a request waits in the backlog and is answered once descriptors are free again",
        arguments: dispatchModes)
    func outOfDescriptors(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        // Let the readiness probe's connection close, then allow no descriptor above those open: the next
        // accept() fails with EMFILE.
        try await server.waitUntilNoConnections()
        let lowestFree = try server.lowestFreeDescriptor()
        try await server.setOpenFilesLimit(lowestFree)
        let answered = Mutex(false)
        let pending = Task {
            defer { answered.withLock { $0 = true } }
            return try await server.request(headers: harness.authorized(token))
        }
        // The process says when accept() failed; until descriptors are free again the request cannot be answered.
        try await server.waitForLog(containing: "cannot accept a connection: Too many open files")
        #expect(!answered.withLock { $0 }, "no descriptor to accept the connection with")
        try await server.setOpenFilesLimit(1024)
        let response = try await pending.value
        #expect(response.status == 200)
        server.signal(SIGTERM)
        let (status, log) = try await server.waitForExit()
        #expect(status == 0)
        #expect(log.contains("cannot accept a connection: Too many open files (errno 24)"))
        #expect(log.contains("raise the open-files limit"))
    }

    @Test(
        "SIGTERM, SIGUSR1 and SIGINT let in-flight requests finish with complete answers, then exit 0",
        arguments: [SIGTERM, SIGUSR1, SIGINT], dispatchModes)
    func gracefulShutdown(signalNumber: Int32, dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 800)
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        async let responses = server.parallelRequests(count: 8, headers: harness.authorized(token))
        // Signal once all eight are waiting on Stripe's 800 ms: each is then in flight.
        try await Self.waitUntil(harness, hasRecorded: 8)
        server.signal(signalNumber)
        let statuses = try await responses.map(\.status)
        #expect(statuses == Array(repeating: 200, count: 8))
        #expect(try await harness.standIn.recordedRequests().count == 8)
        let (status, log) = try await server.waitForExit()
        #expect(status == 0)
        #expect(log.contains("stopped"))
    }

    /// An idle process's threads wait in poll(); on its own Unix socket the stop signal's shutdown(SHUT_RD) wakes
    /// them with a hang-up, which is the process's own doing, not another holder's (that would exit 71).
    @Test(
        "an idle process exits 0 on a stop signal, on every kind of socket",
        arguments: dispatchModes, FastCGIProcess.Socket.allCases)
    func idleShutdown(dispatch: String, socket: FastCGIProcess.Socket) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch), socket: socket)
        // One answer first, so that the process is serving, then a pause, so that its threads are back in poll().
        let connection = try server.connect()
        try connection.send(
            params: FastCGIProcess.params(method: "GET", path: "/elsewhere", body: "", contentType: nil), body: Data())
        #expect(try await connection.response().status == 404)
        // Back in poll() once the process has closed its end of that connection.
        try await server.waitUntilNoConnections()
        server.signal(SIGTERM)
        let (status, log) = try await server.waitForExit()
        #expect(status == 0, "\(log)")
        #expect(log.contains("stopped"))
    }

    /// The web server has connected and sent these requests; closing the socket under them would reset them,
    /// and lighttpd then answers 500 or closes its client's connection without an answer (seen in `tests/soak`).
    @Test(
        "a shutdown answers the requests queued in the backlog; its own Unix socket refuses new ones at once",
        arguments: dispatchModes, FastCGIProcess.Socket.allCases)
    func shutdownDrainsBacklog(dispatch: String, socket: FastCGIProcess.Socket) async throws {
        let harness = try await CheckoutHarness()
        // 1 s at Stripe keeps the drain going for about a second after the signal: time for the request queued
        // after it to arrive even when this test's task resumes late on a loaded machine, and a second left
        // under the 2 s cap for the anonymous ones.
        try await harness.standIn.setLatency(milliseconds: 1000)
        var settings = Self.settings(harness, dispatch: dispatch)
        settings["WORKERS"] = "2"
        let server = try await FastCGIProcess(settings: settings, socket: socket)
        var tokens: [String] = []
        for user in 0..<2 { tokens.append(try await Tokens.make(sub: "user_\(user)")) }
        func send(authorized: Bool) throws -> FastCGIConnection {
            let connection = try server.connect()
            let headers = authorized ? harness.authorized(tokens.removeFirst()) : [:]
            try connection.send(params: FastCGIProcess.params(headers: headers), body: Data("{}".utf8))
            return connection
        }
        // Two requests take both places and wait on Stripe; three more can only wait in the backlog. Those are
        // anonymous (401s, answered without Stripe), so that the drain ends with the backlog, well inside its 2 s
        // even on a loaded machine.
        var connections = [try send(authorized: true), try send(authorized: true)]
        var late: FastCGIConnection?
        try await Self.waitUntil(harness, hasRecorded: 2)
        connections += [try send(authorized: false), try send(authorized: false), try send(authorized: false)]
        server.signal(SIGTERM)
        // The handler has run once the signal is no longer pending (it shuts a Unix socket of its own at once).
        try await server.waitUntilDelivered(SIGTERM)
        if socket == .unixPath {
            #expect(throws: FastCGIConnection.ConnectFailed(code: ECONNREFUSED)) { _ = try server.connect() }
        } else {
            // A socket that may be shared (inherited) or cannot be shut (TCP) stays open until the drain ends:
            // a request queued meanwhile is answered too, unless it arrives after the drain has taken the
            // backlog (then the socket's close resets it before any byte: never a cut answer).
            late = try send(authorized: false)
        }
        var answers: [String] = []
        for connection in connections {
            do {
                answers.append(String(try await connection.response().status))
            } catch {
                answers.append("\(error)")
            }
        }
        #expect(answers == ["200", "200", "401", "401", "401"], "\(server.log())")
        if let late {
            do {
                let response = try await late.response()
                #expect(response.status == 401)
            } catch {
                // ECONNRESET: the listening socket closed with the connection still queued, unaccepted.
                #expect("\(error)".contains("(104)"), "reset while queued, not a cut answer: \(error)")
            }
        }
        #expect(try await harness.standIn.recordedRequests().count == 2)
        let (status, log) = try await server.waitForExit()
        #expect(status == 0)
        #expect(log.contains("stopped"))
    }

    /// `spawn-fcgi -F 2` and systemd socket units give one socket to several processes: the stopping one must
    /// leave it working for the others (shutting the socket itself would stop them all).
    @Test("a process that stops on a shared socket leaves it serving through the others", arguments: dispatchModes)
    func sharedSocketSurvivesShutdown(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let settings = Self.settings(harness, dispatch: dispatch)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bc-\(UUID().uuidString.prefix(8)).sock"
        ).path
        let listening = try FastCGIConnection.listen(unixPath: path)
        let stopping = try await FastCGIProcess(settings: settings, socket: .sharedUnix(listening, path))
        let staying = try await FastCGIProcess(settings: settings, socket: .sharedUnix(listening, path))
        close(listening)
        let params = FastCGIProcess.params(headers: harness.authorized(try await Tokens.make()))
        func request() async throws -> Int {
            let connection = try staying.connect()
            try connection.send(params: params, body: Data("{}".utf8))
            return try await connection.response().status
        }
        #expect(try await request() == 200)
        // Both poll the socket and wake for each connection; the one that loses the race to accept it must
        // get EAGAIN, not sit in a blocking accept() that only a later connection would end (and that would
        // keep it from stopping). The flag belongs to the shared open socket, so both see it.
        let flags = try String(contentsOfFile: "/proc/\(staying.process.processIdentifier)/fdinfo/0", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("flags:") }
            .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) }
        #expect(
            flags.map { $0 & Int(O_NONBLOCK) != 0 } == true, "listening socket flags \(String(flags ?? -1, radix: 8))")
        stopping.signal(SIGTERM)
        let (status, _) = try await stopping.waitForExit()
        #expect(status == 0)
        for _ in 0..<4 {
            #expect(try await request() == 200)
        }
        #expect(staying.process.isRunning)
    }

    @Test(
        "bodies that arrive slowly do not keep the process from taking other requests", arguments: dispatchModes)
    func slowBodiesDoNotStall(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let headers = harness.authorized(try await Tokens.make())
        // Apache's mod_proxy_fcgi passes a client's body on as the client sends it. Eight requests whose bodies
        // stop after one of the 100 bytes announced: more than the four threads that take connections with tasks.
        var slow: [FastCGIConnection] = []
        for _ in 0..<8 {
            let connection = try server.connect()
            let params = FastCGIProcess.params(headers: headers, body: "{}" + String(repeating: " ", count: 98))
            try connection.send(params: params, body: Data("{".utf8), endOfBody: false)
            slow.append(connection)
        }
        // Answered while the eight still wait for their bodies: had it waited behind them, it would only come after
        // their BODY_TIMEOUT_SECONDS (30 s), and they would have got 400s by then, not the 200s below.
        let response = try await server.request(headers: headers)
        #expect(response.status == 200)
        // The slow ones were waiting for the rest of their bodies all along; once it comes they are answered too.
        for connection in slow {
            try connection.finishBody(Data(("}" + String(repeating: " ", count: 98)).utf8))
        }
        // Read at once: the binary's close waits (up to 2 s, in libfcgi) for each connection's reader to close too.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for connection in slow {
                group.addTask { try await connection.response().status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: slow.count))
    }

    @Test("a body that stops coming gets a 400 after BODY_TIMEOUT_SECONDS", arguments: dispatchModes)
    func stalledBodyTimesOut(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        var settings = Self.settings(harness, dispatch: dispatch)
        settings["BODY_TIMEOUT_SECONDS"] = "1"
        let server = try await FastCGIProcess(settings: settings)
        let connection = try server.connect()
        let params = FastCGIProcess.params(
            headers: harness.authorized(try await Tokens.make()), body: "{}" + String(repeating: " ", count: 98))
        let started = ContinuousClock.now
        try connection.send(params: params, body: Data("{".utf8), endOfBody: false)
        // Within 20 s: the setting's 1 s, not the default 30 s (a timeout cannot end early, only late).
        let response = try await connection.response(timeout: 20)
        let waited = ContinuousClock.now - started
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"detail":"There was an error parsing the body"}"#)
        #expect(waited >= .milliseconds(900))
        #expect(try await harness.standIn.recordedRequests().isEmpty)
        // A stalled body no longer holds up a stop either.
        server.signal(SIGTERM)
        let (status, log) = try await server.waitForExit(timeout: 5)
        #expect(status == 0)
        #expect(log.contains("body has 1 bytes, CONTENT_LENGTH announced 100"), "\(log)")
    }

    @Test(
        "a listening socket that fails for good ends the process with an error that says so, not a silent hang",
        arguments: dispatchModes)
    func unusableSocketEndsTheProcess(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bc-\(UUID().uuidString.prefix(8)).sock"
        ).path
        defer { unlink(path) }
        let listening = try FastCGIConnection.listen(unixPath: path)
        defer { close(listening) }
        let server = try await FastCGIProcess(
            settings: Self.settings(harness, dispatch: dispatch), socket: .sharedUnix(listening, path))
        let connection = try server.connect()
        try connection.send(
            params: FastCGIProcess.params(headers: harness.authorized(try await Tokens.make())), body: Data("{}".utf8))
        #expect(try await connection.response().status == 200)
        // Another holder of the shared socket shuts it for reading: no connection can come any more, and it polls
        // readable for good (a process that kept polling it would spin).
        shutdown(listening, Int32(SHUT_RD))
        let (status, log) = try await server.waitForExit(timeout: 10)
        #expect(status == 71)
        let reason = "the listening socket was shut down by another process that holds it"
        #expect(log.contains("stopped serving on fd 0: \(reason)"))
    }

    @Test(
        "after every Stripe fault and hostile request, the same process still serves the next request",
        arguments: dispatchModes)
    func survivesFaults(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        var settings = Self.settings(harness, dispatch: dispatch)
        settings["STRIPE_TIMEOUT_SECONDS"] = "6"
        let server = try await FastCGIProcess(settings: settings)
        let bearer = harness.authorized(try await Tokens.make())
        let faults: [([[String: Any]], Int)] = [
            (Array(repeating: ["kind": "status", "status": 500], count: 3), 503),
            ([["kind": "status", "status": 429]], 503),
            (Array(repeating: ["kind": "hang"], count: 3), 504),
            (Array(repeating: ["kind": "drop"], count: 3), 503),
            ([["kind": "nonJSON", "status": 200]], 502),
            ([["kind": "noURL"]], 502),
            ([["kind": "status", "status": 400]], 502),
        ]
        for (fault, expected) in faults {
            try await harness.standIn.inject(fault)
            let failed = try await server.request(headers: bearer)
            #expect(failed.status == expected, "\(fault)")
            let next = try await server.request(headers: bearer)
            #expect(next.status == 200, "after \(fault)")
        }
        for body in ["[" + String(repeating: "[", count: 5000), "{\"a\":\"\u{0}\"}", "nul\u{0}l"] {
            let hostile = try await server.request(headers: bearer, body: body)
            #expect((400..<500).contains(hostile.status))
            #expect(try await server.request(headers: bearer).status == 200)
        }
        #expect(server.process.isRunning)
    }

    /// docs/behaviour.md: a socket that cannot be shut (TCP here) is drained until its backlog is empty "or 2 s after
    /// the drain began, so that steady traffic cannot keep a stopping process alive".
    @Test(
        "a drain that cannot finish ends 2 s after the stop: what is still queued is let go, and the process exits 0",
        arguments: dispatchModes)
    func drainEndsAfterTwoSeconds(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 400)
        var settings = Self.settings(harness, dispatch: dispatch)
        settings["WORKERS"] = "1"
        let server = try await FastCGIProcess(settings: settings)
        let params = FastCGIProcess.params(headers: harness.authorized(try await Tokens.make()))
        func send() throws -> FastCGIConnection {
            let connection = try server.connect()
            try connection.send(params: params, body: Data("{}".utf8))
            return connection
        }
        // One request at Stripe, 24 queued behind it: answered one at a time, they would take 10 s.
        var connections = [try send()]
        try await Self.waitUntil(harness, hasRecorded: 1)
        for _ in 0..<24 { connections.append(try send()) }
        server.signal(SIGTERM)
        let (status, log) = try await server.waitForExit(timeout: 60)
        #expect(status == 0, "\(log)")
        var answered = 0
        for connection in connections {
            // A connection let go is closed before any byte of an answer: never half an answer.
            guard let response = try? await connection.response(timeout: 5) else { continue }
            #expect(response.status == 200)
            answered += 1
        }
        #expect(answered >= 1, "the request in flight is answered")
        #expect(answered < connections.count, "the drain ended before the backlog did")
        #expect(try await harness.standIn.recordedRequests().count == answered)
    }

    /// docs/behaviour.md: an invalid `REQUEST_METHOD` never reaches the application; the transport answers 400.
    @Test(
        "a REQUEST_METHOD that is not an HTTP token, or none, gets the transport's 400, and the process serves on",
        arguments: dispatchModes, ["GE T", "", "POST\r\nX-Injected: 1", nil])
    func invalidMethod(dispatch: String, method: String?) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let headers = harness.authorized(try await Tokens.make())
        var params = FastCGIProcess.params(headers: headers)
        params["REQUEST_METHOD"] = method
        let connection = try server.connect()
        try connection.send(params: params, body: Data("{}".utf8))
        let response = try await connection.response()
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"detail":"Bad Request"}"#)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.headers["x-injected"] == nil)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
        #expect(try await server.request(headers: headers).status == 200)
    }

    @Test("HEAD on the endpoint is a 405 with Allow: POST, even with a valid token and body", arguments: dispatchModes)
    func headIsNotAllowed(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let response = try await server.request(method: "HEAD", headers: harness.authorized(try await Tokens.make()))
        #expect(response.status == 405)
        #expect(response.headers["allow"] == "POST")
        #expect(response.bodyText == #"{"detail":"Method Not Allowed"}"#)
        #expect(try await harness.standIn.recordedRequests().isEmpty)
    }

    @Test("refuses to start on missing settings, with one line per problem")
    func refusesBadSettings() async throws {
        let result = try await ProcessRunner.run(
            try Binaries.billingCheckout(), arguments: ["--listen", "127.0.0.1:1"],
            environment: ["PATH": "/usr/bin:/bin", "BILLING_ENV_FILE": "", "STRIPE_SECRET_KEY": "pk_live_wrongkind"])
        #expect(result.exitCode == 78)
        let lines = result.stderrText.split(separator: "\n")
        #expect(lines.contains { $0.contains("STRIPE_SECRET_KEY") && $0.contains("sk_") })
        #expect(lines.contains { $0.contains("FRONTEND_URL") })
        #expect(lines.contains { $0.contains("JWT_SECRET") })
        #expect(!result.stderrText.contains("pk_live_wrongkind"))
    }
}
