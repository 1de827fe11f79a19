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
        "a slow Stripe does not serialize requests: 40 at once with 300 ms latency finish together",
        arguments: dispatchModes)
    func concurrency(dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 300)
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        let started = ContinuousClock.now
        let responses = try await server.parallelRequests(count: 40, headers: harness.authorized(token))
        let elapsed = ContinuousClock.now - started
        #expect(responses.allSatisfy { $0.status == 200 })
        #expect(Set(responses.map(\.bodyText)).count == 40, "each request gets its own session")
        // Serialized, 40 × 300 ms would be 12 s.
        #expect(elapsed < .seconds(4))
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
        try await Task.sleep(for: .milliseconds(500))
        let lowestFree = try server.lowestFreeDescriptor()
        try await server.setOpenFilesLimit(lowestFree)
        let answered = Mutex(false)
        let pending = Task {
            defer { answered.withLock { $0 = true } }
            return try await server.request(headers: harness.authorized(token))
        }
        try await Task.sleep(for: .milliseconds(800))
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
        "SIGTERM lets in-flight requests finish with complete answers, then exits 0",
        arguments: [SIGTERM, SIGUSR1], dispatchModes)
    func gracefulShutdown(signalNumber: Int32, dispatch: String) async throws {
        let harness = try await CheckoutHarness()
        try await harness.standIn.setLatency(milliseconds: 800)
        let server = try await FastCGIProcess(settings: Self.settings(harness, dispatch: dispatch))
        let token = try await Tokens.make()
        async let responses = server.parallelRequests(count: 8, headers: harness.authorized(token))
        // Signal once all eight are waiting on Stripe's 800 ms: each is then in flight.
        let deadline = ContinuousClock.now + .seconds(10)
        while try await harness.standIn.recordedRequests().count < 8 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
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
        try await Task.sleep(for: .milliseconds(300))
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
        try await harness.standIn.setLatency(milliseconds: 500)
        var settings = Self.settings(harness, dispatch: dispatch)
        settings["WORKERS"] = "2"
        let server = try await FastCGIProcess(settings: settings, socket: socket)
        var tokens: [String] = []
        for user in 0..<6 { tokens.append(try await Tokens.make(sub: "user_\(user)")) }
        func send() throws -> FastCGIConnection {
            let connection = try server.connect()
            let params = FastCGIProcess.params(headers: harness.authorized(tokens.removeFirst()))
            try connection.send(params: params, body: Data("{}".utf8))
            return connection
        }
        // Two requests take both places and wait on Stripe; three more can only wait in the backlog.
        var connections = [try send(), try send()]
        let deadline = ContinuousClock.now + .seconds(10)
        while try await harness.standIn.recordedRequests().count < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        connections += [try send(), try send(), try send()]
        server.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(100))
        if socket == .unixPath {
            #expect(throws: FastCGIConnection.ConnectFailed(code: ECONNREFUSED)) { _ = try server.connect() }
        } else {
            // A socket that may be shared (inherited) or cannot be shut (TCP) stays open until the drain ends:
            // a request queued meanwhile is answered too.
            connections.append(try send())
        }
        var answers: [String] = []
        for connection in connections {
            do {
                answers.append(String(try await connection.response().status))
            } catch {
                answers.append("\(error)")
            }
        }
        #expect(answers == Array(repeating: "200", count: connections.count))
        #expect(try await harness.standIn.recordedRequests().count == connections.count)
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
        let started = ContinuousClock.now
        let response = try await server.request(headers: headers)
        #expect(response.status == 200)
        #expect(ContinuousClock.now - started < .seconds(5))
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
        let response = try await connection.response()
        let waited = ContinuousClock.now - started
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"detail":"There was an error parsing the body"}"#)
        #expect(waited >= .milliseconds(900) && waited < .seconds(5))
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
