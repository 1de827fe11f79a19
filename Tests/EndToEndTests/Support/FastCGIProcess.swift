import Foundation

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
    private let errors: Pipe

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
    /// its bind, by a test's outgoing connection or another listener) is retried on a new port, up to 5 times.
    init(settings: [String: String], socket: Socket = .tcp) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bc-\(UUID().uuidString.prefix(8)).sock"
        ).path
        var lastLog = ""
        for _ in 0..<5 {
            let errors = Pipe()
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
                (self.process, self.errors, self.port, self.socketPath) = (process, errors, 0, path)
                return
            case .sharedUnix(let listening, let sharedPath):
                process.standardInput = FileHandle(fileDescriptor: listening, closeOnDealloc: false)
                try process.run()
                (self.process, self.errors, self.port, self.socketPath) = (process, errors, 0, sharedPath)
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
                    (self.process, self.errors, self.port, self.socketPath) = (process, errors, port, socketPath)
                    return
                }
                guard process.isRunning else { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            lastLog = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
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
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, log)
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

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = FastCGIConnection.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw SupportError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
