import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The binary running as a FastCGI server, reached through libfcgi's `cgi-fcgi` or `FastCGIConnection`.
final class FastCGIProcess: @unchecked Sendable {
    // @unchecked: `process` is started in init and only stopped afterwards.
    let process: Process
    /// The TCP port, or 0 on a Unix socket.
    let port: Int
    /// The Unix socket's path, or nil with TCP.
    let socketPath: String?
    /// Where the process's stderr goes: a file, so that the test can read what it logged while it runs.
    private let logPath: String

    /// Where the server listens.
    enum Socket: CaseIterable, Equatable, Sendable {
        /// `--listen 127.0.0.1:PORT`.
        case tcp
        /// `--listen PATH`: a Unix socket the binary opens itself.
        case unixPath
        /// A Unix listening socket the test opens and gives the binary as its stdin, then closes: how
        /// lighttpd and mod_fcgid start it.
        case inheritedUnix
        /// A Unix listening socket (descriptor, path) the test opened and gives to several processes as
        /// their stdin, as `spawn-fcgi -F N` does; the test closes it once they have all started.
        case sharedUnix(Int32, String)

        /// The three kinds a single process listens on.
        static let allCases: [Socket] = [.tcp, .unixPath, .inheritedUnix]
    }

    /// Starts the binary with `settings` as its whole environment. When the binary opens the socket itself,
    /// waits until it accepts connections; with `.inheritedUnix`, returns at once: connections wait in the
    /// socket's backlog meanwhile. With `.tcp`, a port the binary cannot bind (taken between `freePort` and
    /// its bind by another listener) is retried on a new port, up to 5 times.
    init(settings: [String: String], socket: Socket = .tcp) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bc-\(UUID().uuidString.prefix(8)).sock"
        ).path
        var lastLog = ""
        for _ in 0..<5 {
            let logPath = FileManager.default.temporaryDirectory.appendingPathComponent(
                "bc-\(UUID().uuidString.prefix(8)).log"
            ).path
            guard FileManager.default.createFile(atPath: logPath, contents: nil),
                let errors = FileHandle(forWritingAtPath: logPath)
            else { throw SupportError("cannot create \(logPath)") }
            defer { try? errors.close() }  // the child has its own descriptor
            let process = Process()
            process.executableURL = try Binaries.billingCheckout()
            process.environment = settings
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            let port: Int
            let socketPath: String?
            switch socket {
            case .inheritedUnix:
                let listening = try FastCGIConnection.listen(unixPath: path)
                process.standardInput = FileHandle(fileDescriptor: listening, closeOnDealloc: false)
                defer { close(listening) }  // as the web server does: the process holds the only descriptor
                try process.run()
                (self.process, self.logPath, self.port, self.socketPath) = (process, logPath, 0, path)
                return
            case .sharedUnix(let listening, let sharedPath):
                process.standardInput = FileHandle(fileDescriptor: listening, closeOnDealloc: false)
                try process.run()
                (self.process, self.logPath, self.port, self.socketPath) = (process, logPath, 0, sharedPath)
                return
            case .unixPath:
                (port, socketPath) = (0, path)
                process.arguments = ["--listen", path]
            case .tcp:
                (port, socketPath) = (try Self.freePort(), nil)
                process.arguments = ["--listen", "127.0.0.1:\(port)"]
            }
            process.standardInput = FileHandle.nullDevice
            try process.run()
            for _ in 0..<200 {
                let listening =
                    if socketPath != nil { FileManager.default.fileExists(atPath: path) } else {
                        (try? FastCGIConnection.connect(port: port)) != nil
                    }
                if listening {
                    (self.process, self.logPath, self.port, self.socketPath) = (process, logPath, port, socketPath)
                    return
                }
                guard process.isRunning else { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            lastLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            unlink(logPath)
            // libfcgi reports a failed bind itself ("bind/listen: Address already in use") and exits.
            guard socket == .tcp, lastLog.contains("Address already in use") else { break }
        }
        throw SupportError("billing-checkout did not listen: \(lastLog)")
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if let socketPath { unlink(socketPath) }
        unlink(logPath)
    }

    /// What the process has logged so far.
    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Waits until the process has logged `text` (an event, not a time: `timeout` only ends a test that would
    /// otherwise hang); throws when it exits or the time is up first.
    func waitForLog(containing text: String, timeout: Double = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while !log().contains(text) {
            guard process.isRunning else { throw SupportError("exited before logging \(text): \(log())") }
            guard ContinuousClock.now < deadline else { throw SupportError("no \(text) within \(timeout) s: \(log())") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A connection of the test's own to the server's socket (see `FastCGIConnection`).
    func connect() throws -> FastCGIConnection {
        if let socketPath { return try FastCGIConnection.connect(unixPath: socketPath) }
        return try FastCGIConnection.connect(port: port)
    }

    /// User and system CPU time the process has used so far, from `/proc/PID/stat`.
    func cpuSeconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // Fields after the command name, which is in parentheses and may hold spaces: state is the first,
        // utime and stime are fields 14 and 15 of the whole line.
        guard let end = stat.lastIndex(of: ")") else { throw SupportError("unreadable /proc stat: \(stat)") }
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw SupportError("unreadable /proc stat: \(stat)")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The lowest descriptor number the process does not have open: the one its next socket would get.
    func lowestFreeDescriptor() throws -> Int {
        let open = Set(
            try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").compactMap {
                Int($0)
            })
        return (0...).first { !open.contains($0) }!
    }

    /// Waits until the process holds no connection on its listening socket any more (a web server's, the readiness
    /// probe's): only the listening socket is left, as `/proc/net/tcp` and `/proc/net/unix` show its sockets.
    func waitUntilNoConnections(timeout: Double = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while true {
            let open = try connections()
            if open == 0 { return }
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw SupportError("\(open) connections still open")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// How many connected sockets the process holds on its listening address.
    private func connections() throws -> Int {
        let directory = "/proc/\(process.processIdentifier)/fd"
        let inodes = Set(
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name -> Substring? in
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                    link.hasPrefix("socket:[")
                else { return nil }
                return Substring(link.dropFirst(8).dropLast())
            })
        var count = 0
        if socketPath == nil {
            // sl local_address rem_address st … inode: a connection is any state but LISTEN (0A) on our port.
            let port = String(format: "%04X", self.port)
            for line in try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8).split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[1].hasSuffix(":" + port), fields[3] != "0A", inodes.contains(fields[9])
                else { continue }
                count += 1
            }
        } else {
            // Num RefCount Protocol Flags Type St Inode Path: an accepted connection is connected (St 03).
            for line in try String(contentsOfFile: "/proc/net/unix", encoding: .utf8).split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 7, fields[5] == "03", inodes.contains(fields[6]), fields[7] == socketPath ?? ""
                else { continue }
                count += 1
            }
        }
        return count
    }

    /// Waits until a signal sent to the process is no longer pending: its handler has been entered.
    func waitUntilDelivered(_ number: Int32, timeout: Double = 30) async throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        let bit = UInt64(1) << UInt64(number - 1)
        while true {
            let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let pending = status.split(separator: "\n").filter { $0.hasPrefix("ShdPnd:") || $0.hasPrefix("SigPnd:") }
                .compactMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
            if !pending.isEmpty && pending.allSatisfy({ $0 & bit == 0 }) { return }
            guard process.isRunning else { return }
            guard ContinuousClock.now < deadline else { throw SupportError("signal \(number) still pending") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Sets the process's soft limit on open files (`prlimit`, util-linux), leaving the hard limit.
    func setOpenFilesLimit(_ soft: Int) async throws {
        let result = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/prlimit"),
            arguments: ["--pid=\(process.processIdentifier)", "--nofile=\(soft):"], environment: [:])
        guard result.exitCode == 0 else { throw SupportError("prlimit: \(result.stderrText)") }
    }

    /// Sends a signal (SIGTERM, SIGUSR1) to the server.
    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// Waits for the server to exit and returns its status and what it logged.
    func waitForExit(timeout: Double = 20) async throws -> (status: Int32, log: String) {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw SupportError("server did not exit within \(timeout) s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (process.terminationStatus, log())
    }

    /// One request through `cgi-fcgi -bind -connect`, which turns a CGI environment into a FastCGI request.
    func request(
        method: String = "POST", path: String = CheckoutHarness.path, headers: [String: String] = [:],
        body: String = "{}", contentType: String? = "application/json"
    ) async throws -> CGIResponse {
        let environment = Self.params(
            method: method, path: path, headers: headers, body: body, contentType: contentType)
        let result = try await ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/cgi-fcgi"), arguments: ["-bind", "-connect", "127.0.0.1:\(port)"],
            environment: environment, stdin: Data(body.utf8))
        return try CGIResponse.parse(result.stdout)
    }

    /// The params a web server sends for a request.
    static func params(
        method: String = "POST", path: String = CheckoutHarness.path, headers: [String: String] = [:],
        body: String = "{}", contentType: String? = "application/json"
    ) -> [String: String] {
        var params: [String: String] = [
            "REQUEST_METHOD": method, "REQUEST_URI": path, "SCRIPT_NAME": path, "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1", "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": String(body.utf8.count),
        ]
        if let contentType { params["CONTENT_TYPE"] = contentType }
        for (name, value) in headers {
            params[cgiVariable(forHeader: name)] = value
        }
        return params
    }

    /// Sends `count` identical requests at once from one shell (spawning them from the test process
    /// would measure Foundation's process launching instead), returning each response's status and body.
    func parallelRequests(count: Int, headers: [String: String], body: String = "{}") async throws -> [CGIResponse] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fcgi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data(body.utf8).write(to: directory.appendingPathComponent("body"))
        var environment: [String: String] = [
            "PATH": "/usr/bin:/bin", "REQUEST_METHOD": "POST", "REQUEST_URI": CheckoutHarness.path,
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": String(body.utf8.count), "DIR": directory.path,
            "PORT": String(port), "COUNT": String(count),
        ]
        for (name, value) in headers {
            environment[cgiVariable(forHeader: name)] = value
        }
        let script = """
            for i in $(seq 1 "$COUNT"); do
                cgi-fcgi -bind -connect "127.0.0.1:$PORT" <"$DIR/body" >"$DIR/out.$i" &
            done
            wait
            """
        _ = try await ProcessRunner.run(
            URL(fileURLWithPath: "/bin/bash"), arguments: ["-c", script], environment: environment)
        return try (1...count).map { index in
            try CGIResponse.parse(Data(contentsOf: directory.appendingPathComponent("out.\(index)")))
        }
    }

    /// Ports handed out by `freePort` in this process, never handed out twice.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port nothing listens on, below the kernel's range for outgoing connections' local ports
    /// (`ip_local_port_range`), so that no connection a test opens meanwhile can take it before the binary binds
    /// it (a port from `bind(0)` comes from that range); never the same one twice in this test process. Another
    /// listener started meanwhile can still take it: `init` then retries on another port.
    static func freePort() throws -> Int {
        let range =
            (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) } ?? []
        let below = range.first.map { max($0, 11_000) } ?? 32_768
        for _ in 0..<500 {
            let port = Int.random(in: 10_000..<below)
            guard handedOut.withLock({ $0.insert(port).inserted }), canBind(port) else { continue }
            return port
        }
        throw SupportError("no free port below \(below)")
    }

    /// True when a listening socket could be bound to 127.0.0.1:`port` now.
    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = FastCGIConnection.loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
